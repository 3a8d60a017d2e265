#!/bin/sh
# Rebuilds models/friday-default.gguf from nothing but this repository (about 45 min of training on a
# shared 2-core machine; see models/README.md). Usage: sh scripts/train/build-default-model.sh [WORKDIR]
set -eu
DIR=${1:-/tmp/friday-default}
node --import tsx scripts/corpus/generate.ts --seed 1 --stories 10000 --out "$DIR/corpus.jsonl"
node --import tsx scripts/train/tokenizer.ts --dir "$DIR" --vocab 1024
nice -n 15 /usr/bin/python3 scripts/train/train.py --dir "$DIR"
node --import tsx scripts/export-gguf.ts --dir "$DIR" --out models/friday-default.gguf --type f16
node --import tsx scripts/train/eval-gguf.ts --dir "$DIR" --model models/friday-default.gguf
