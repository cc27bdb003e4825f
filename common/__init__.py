"""What the web tier and the workers share: settings, job model, ladder, keys, events."""
