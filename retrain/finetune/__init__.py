"""Fine-tuned personal decoder weights (optional extra ``tiro[finetune]``)."""
