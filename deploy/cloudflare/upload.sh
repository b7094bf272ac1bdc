#!/usr/bin/env bash
# Upload a LoRA exported by `formwhy export --target workers-ai` to Workers AI, then deploy the Worker.
#   formwhy export --target workers-ai --model adapters/<adapter> --workers-base @cf/google/gemma-2b-it-lora \
#       --out dist/workers-ai
#   deploy/cloudflare/upload.sh @cf/google/gemma-2b-it-lora formwhy dist/workers-ai
# Needs `npx wrangler login` (or CLOUDFLARE_API_TOKEN + CLOUDFLARE_ACCOUNT_ID). Files cannot be edited after
# upload: a new adapter needs a new name (then set LORA in wrangler.toml).
set -euo pipefail
model="${1:?usage: upload.sh MODEL NAME FOLDER}"
name="${2:?usage: upload.sh MODEL NAME FOLDER}"
folder="${3:?usage: upload.sh MODEL NAME FOLDER}"
for f in adapter_config.json adapter_model.safetensors; do
  [[ -f "$folder/$f" ]] || { echo "error: $folder/$f missing (run formwhy export --target workers-ai)" >&2; exit 1; }
done
extra=$(ls -A "$folder" | grep -v -x -e adapter_config.json -e adapter_model.safetensors || true)
[[ -z "$extra" ]] || { echo "error: $folder must hold only the two adapter files, not: $extra" >&2; exit 1; }
npx wrangler ai finetune create "$model" "$name" "$folder"
npx wrangler ai finetune list
cd "$(dirname "$0")" && npx wrangler deploy
