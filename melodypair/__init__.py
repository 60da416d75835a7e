"""melodypair: pair two devices securely by a short tone melody.

The code lives in three sub-packages: `melodypair.shared` (both sides), `melodypair.host`
(TensorFlow side: training, export, evaluation, play) and `melodypair.device` (the Pi side).
"""

__version__ = "0.1.0"
