"""Peers of the learned recognizer for the evaluation: other ways to hear a melody (pYIN) and
another way to send 40 bits by sound (ggwave). Host-side only; each imports its library lazily."""
