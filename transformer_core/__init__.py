"""transformer_core: a from-scratch, readable PyTorch Transformer.

One idea per module; import what you need from it:

    device       get_device(): CUDA when available, else CPU (the only place that decides)
    attention    scaled_dot_product_attention (explicit, returns weights), fused_attention, masks
    multihead    MultiHeadAttention, KVCache
    positional   sinusoidal, learned, rotary (RoPE), ALiBi
    feedforward  FeedForward (ReLU/GELU), SwiGLU
    layers       EncoderLayer, DecoderLayer (post-norm and pre-norm)
    models       TransformerConfig, EncoderDecoderTransformer, BertModel, GPT
    efficient    sliding-window, strided/block sparse and linear (Performer) attention
    configs      PRESETS, build, count_parameters (on the meta device), PAPER_COUNTS
    tokenizer    CharTokenizer
    data         load_corpus, copy_task_batch
    train        train_copy_task, train_char_lm
    generate     generate (greedy / temperature / top-k, with or without the KV cache)

Masks everywhere (read by ``attention.normalize_mask``): bool, True = "may attend"; integer
0/1 (1 = may attend); float = added to the scores. Malformed inputs raise ValueError naming the
argument and the shapes.
"""
