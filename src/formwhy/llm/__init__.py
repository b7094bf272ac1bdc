"""The fine-tuned LLM: base models, the prompt, LoRA/QLoRA training and first-token probabilities."""

import logging

# bitsandbytes (the `qlora` extra), once installed, is imported by peft for every adapter, and on a CPU with AVX-512
# BF16 it warns at import that an optional kernel package from the Hugging Face hub is missing: noise for plain LoRA
# inference and for CPU QLoRA alike (its own code falls back), so only its errors are shown.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
