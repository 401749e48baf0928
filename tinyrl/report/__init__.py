"""Reports and demos: they read artefacts and simulator output, and draw them."""
