"""Stage 'finetune': the text encoder fine-tuned on users' labels (``powertier finetune``)."""
