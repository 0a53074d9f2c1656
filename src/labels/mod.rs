//! Label models and renderers (ZPL, PNG, SVG).
