"""The composition root: builds every part, the app and the CLI. The only package that imports every layer."""
