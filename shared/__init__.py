"""Code both sides run: alphabet, melody code, synthesis, audio I/O, features, decoder, pairing."""
