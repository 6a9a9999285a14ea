"""transformer_core: a from-scratch, readable PyTorch Transformer."""
