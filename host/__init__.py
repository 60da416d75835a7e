"""The TensorFlow side: training data, LSTM training, int8 export, evaluation, `play`."""
