"""Other frameworks' APIs over ember's graphs: ``ember.compat.v1`` speaks TensorFlow 1."""
