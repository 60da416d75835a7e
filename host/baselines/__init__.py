"""Hand-written recognizers the learned one is measured against."""
