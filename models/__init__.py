"""Shipped model bundles (`<name>/model.tflite` + `<name>/manifest.json`)."""
