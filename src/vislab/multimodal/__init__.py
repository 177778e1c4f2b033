"""Image-text models: CLIP zero-shot coding, embeddings, retrieval (and captioning to come)."""
