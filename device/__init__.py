"""What runs on the Pi: microphone capture, LiteRT inference, the pairing daemon, deployment."""
