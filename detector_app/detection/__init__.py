"""RetinaNet models, weights and inference. No Qt here."""
