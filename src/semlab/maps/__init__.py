"""2D maps of micrographs: embeddings (UMAP, PCA, t-SNE), map data, the interactive map page and its standalone export."""
