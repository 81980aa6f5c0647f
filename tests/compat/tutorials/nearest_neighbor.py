"""aymericdamien/TensorFlow-Examples nearest_neighbor.py (L1 distance, tf.arg_min), on 8x8 digits."""
# ruff: noqa: UP031 - the original script's own style (percent formats), kept


def main(tf, mnist, n_train=500, n_test=100):
    # In this example, we limit mnist data
    Xtr, Ytr = mnist.train.next_batch(n_train)  # 5000 for training (nn candidates)
    Xte, Yte = mnist.test.next_batch(n_test)  # 200 for testing

    # tf Graph Input
    xtr = tf.placeholder("float", [None, 64])
    xte = tf.placeholder("float", [64])

    # Nearest Neighbor calculation using L1 Distance
    # Calculate L1 Distance
    distance = tf.reduce_sum(tf.abs(tf.add(xtr, tf.negative(xte))), reduction_indices=1)
    # Prediction: Get min distance index (Nearest neighbor)
    pred = tf.arg_min(distance, 0)

    accuracy = 0.0
    preds = []

    # Initialize the variables (i.e. assign their default value)
    init = tf.global_variables_initializer()

    # Start training
    with tf.Session() as sess:
        # Run the initializer
        sess.run(init)

        # loop over test data
        for i in range(len(Xte)):
            # Get nearest neighbor
            nn_index = sess.run(pred, feed_dict={xtr: Xtr, xte: Xte[i, :]})
            # Get nearest neighbor class label and compare it to its true label
            print("Test", i, "Prediction:", np.argmax(Ytr[nn_index]), "True Class:", np.argmax(Yte[i]))
            preds.append(nn_index)
            # Calculate accuracy
            if np.argmax(Ytr[nn_index]) == np.argmax(Yte[i]):
                accuracy += 1.0 / len(Xte)
        print("Done!")
        print("Accuracy:", accuracy)
    return preds, accuracy


import numpy as np  # noqa: E402 - (the original imports it at the top)
