"""DATA LAYER: sources -> sample tables; decoding; transform presets; splits; batching."""
