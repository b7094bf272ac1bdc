"""The fine-tuned LLM: base models, the prompt, LoRA/QLoRA training and first-token probabilities."""
