// Remote inference: RemoteEngine (OpenAI-compatible servers) and RouterEngine (local + remote).
export { RemoteEngine, type RemoteEngineOptions, type RemoteMetrics, type EndpointMetrics } from './engine.js';
export type { RemoteEndpointConfig } from './endpoint.js';
export { RouterEngine, type RouterOptions, type RouterRequestOptions, type RoutingPolicy, type RouterMetrics, type LocalSource, type LocalState } from './router.js';
export { SseParser, type SseEvent } from './sse.js';
export { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
export { parseRetryAfter, type RemoteErrorKind } from './errors.js';
export { shouldFailOver, runWithFailover, type FailoverTarget, type LegRequest } from './failover.js';
export type { PoolSnapshot } from './transport.js';
