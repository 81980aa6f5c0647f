"""aymericdamien/TensorFlow-Examples recurrent_network.py: an LSTM reads a digit row by row (8 steps x 8).

``from tensorflow.contrib import rnn`` is gone in TF2, so (as TF 1.x code
later did) the cell and static_rnn come from ``tf.nn.rnn_cell``/``tf.nn``.
"""
# ruff: noqa: UP031, B007 - the original scripts' own style (percent formats, unused loop indices), kept


def main(tf, mnist, training_steps=60, display_step=10, on_init=None):
    history = []
    # Training Parameters
    learning_rate = 0.1
    batch_size = 50

    # Network Parameters
    num_input = 8  # data input (img shape: 8*8)
    timesteps = 8  # timesteps
    num_hidden = 16  # hidden layer num of features
    num_classes = 10  # total classes (0-9 digits)

    # tf Graph input
    X = tf.placeholder("float", [None, timesteps, num_input])
    Y = tf.placeholder("float", [None, num_classes])

    # Define weights
    weights = {"out": tf.Variable(tf.random_normal([num_hidden, num_classes]))}
    biases = {"out": tf.Variable(tf.random_normal([num_classes]))}

    def RNN(x, weights, biases):
        # Prepare data shape to match `rnn` function requirements
        # Current data input shape: (batch_size, timesteps, n_input)
        # Required shape: 'timesteps' tensors list of shape (batch_size, n_input)

        # Unstack to get a list of 'timesteps' tensors of shape (batch_size, n_input)
        x = tf.unstack(x, timesteps, 1)

        # Define a lstm cell with tensorflow
        lstm_cell = tf.nn.rnn_cell.BasicLSTMCell(num_hidden, forget_bias=1.0)

        # Get lstm cell output
        outputs, states = tf.nn.static_rnn(lstm_cell, x, dtype=tf.float32)

        # Linear activation, using rnn inner loop last output
        return tf.matmul(outputs[-1], weights["out"]) + biases["out"]

    logits = RNN(X, weights, biases)
    prediction = tf.nn.softmax(logits)

    # Define loss and optimizer
    loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
    optimizer = tf.train.GradientDescentOptimizer(learning_rate=learning_rate)
    train_op = optimizer.minimize(loss_op)

    # Evaluate model (with test logits, for dropout to be disabled)
    correct_pred = tf.equal(tf.argmax(prediction, 1), tf.argmax(Y, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))

    # Initialize the variables (i.e. assign their default value)
    init = tf.global_variables_initializer()

    # Start training
    with tf.Session() as sess:
        # Run the initializer
        sess.run(init)
        if on_init is not None:
            on_init(sess, tf)  # (added: the same starting weights in both frameworks)

        for step in range(1, training_steps + 1):
            batch_x, batch_y = mnist.train.next_batch(batch_size)
            # Reshape data to get 28 seq of 28 elements
            batch_x = batch_x.reshape((batch_size, timesteps, num_input))
            # Run optimization op (backprop)
            sess.run(train_op, feed_dict={X: batch_x, Y: batch_y})
            if step % display_step == 0 or step == 1:
                # Calculate batch loss and accuracy
                loss, acc = sess.run([loss_op, accuracy], feed_dict={X: batch_x, Y: batch_y})
                print("Step " + str(step) + ", Minibatch Loss= " + f"{loss:.4f}"
                      + ", Training Accuracy= " + f"{acc:.3f}")  # fmt: skip
                history.append((loss, acc))

        print("Optimization Finished!")

        # Calculate accuracy for 128 mnist test images
        test_len = 128
        test_data = mnist.test.images[:test_len].reshape((-1, timesteps, num_input))
        test_label = mnist.test.labels[:test_len]
        test_acc = sess.run(accuracy, feed_dict={X: test_data, Y: test_label})
        print("Testing Accuracy:", test_acc)
        names = [v.name for v in tf.trainable_variables()]
        return history, test_acc, names, sess.run(tf.trainable_variables())
