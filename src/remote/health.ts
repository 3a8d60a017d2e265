// Background health checks: GET /health, or /v1/models for servers without one (llama.cpp's
// server has /health; vLLM and OpenAI have /v1/models). A healthy answer also closes an open
// circuit early; an unhealthy one only deprioritises the endpoint (traffic still decides).
import type { Endpoint } from './endpoint.js';
import type { Transport } from './transport.js';

export interface HealthOptions {
  timeoutMs: number;
  /** Abort functions in flight (the engine's close() calls them). */
  active: Set<() => void>;
  /** Counts an HTTP request sent. */
  onSend(): void;
}

/** Checks one endpoint and records the verdict on it; returns the /v1/models body when that was asked and healthy. */
export async function checkEndpointHealth(ep: Endpoint, transport: Promise<Transport>, o: HealthOptions): Promise<string | undefined> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), o.timeoutMs);
  const closer = () => ac.abort();
  o.active.add(closer);
  try {
    const t = await transport;
    const get = async (path: string) => {
      o.onSend();
      return t.request(ep.origin, { method: 'GET', path: ep.path(path), headers: ep.headers({ accept: 'application/json' }), signal: ac.signal, probe: true });
    };
    let res = await get(ep.healthPath);
    if ((res.status === 404 || res.status === 405) && ep.healthPath === '/health') {
      await res.discard();
      ep.healthPath = '/v1/models';
      res = await get(ep.healthPath);
    }
    const text = await res.text(256 * 1024);
    ep.healthy = res.status === 200;
    ep.lastHealthError = ep.healthy ? undefined : `HTTP ${res.status}: ${text.slice(0, 200)}`;
    if (ep.healthy) ep.breaker.onHealthy();
    return ep.healthy && ep.healthPath === '/v1/models' ? text : undefined;
  } catch (e) {
    ep.healthy = false;
    ep.lastHealthError = ac.signal.aborted ? `no answer within ${o.timeoutMs} ms` : (e as Error).message;
    return undefined;
  } finally {
    clearTimeout(timer);
    o.active.delete(closer);
  }
}
