"""The plan report: Markdown (GFM + Mermaid), self-contained HTML (inline SVG), JSON."""
