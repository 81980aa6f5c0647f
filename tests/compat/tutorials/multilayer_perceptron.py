"""aymericdamien/TensorFlow-Examples multilayer_perceptron.py (64 inputs, 32 + 32 hidden units)."""
# ruff: noqa: UP031, B007 - the original scripts' own style (percent formats, unused loop indices), kept


def main(tf, mnist, training_epochs=15, on_init=None):
    history = []
    # Parameters
    learning_rate = 0.001
    batch_size = 100
    display_step = 1

    # Network Parameters
    n_hidden_1 = 32  # 1st layer number of neurons
    n_hidden_2 = 32  # 2nd layer number of neurons
    n_input = 64  # digits data input (img shape: 8*8)
    n_classes = 10  # total classes (0-9 digits)

    # tf Graph input
    X = tf.placeholder("float", [None, n_input])
    Y = tf.placeholder("float", [None, n_classes])

    # Store layers weight & bias
    weights = {
        "h1": tf.Variable(tf.random_normal([n_input, n_hidden_1])),
        "h2": tf.Variable(tf.random_normal([n_hidden_1, n_hidden_2])),
        "out": tf.Variable(tf.random_normal([n_hidden_2, n_classes])),
    }
    biases = {
        "b1": tf.Variable(tf.random_normal([n_hidden_1])),
        "b2": tf.Variable(tf.random_normal([n_hidden_2])),
        "out": tf.Variable(tf.random_normal([n_classes])),
    }

    # Create model
    def multilayer_perceptron(x):
        # Hidden fully connected layer with 256 neurons
        layer_1 = tf.add(tf.matmul(x, weights["h1"]), biases["b1"])
        # Hidden fully connected layer with 256 neurons
        layer_2 = tf.add(tf.matmul(layer_1, weights["h2"]), biases["b2"])
        # Output fully connected layer with a neuron for each class
        out_layer = tf.matmul(layer_2, weights["out"]) + biases["out"]
        return out_layer

    # Construct model
    logits = multilayer_perceptron(X)

    # Define loss and optimizer
    loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
    optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
    train_op = optimizer.minimize(loss_op)
    # Initializing the variables
    init = tf.global_variables_initializer()

    with tf.Session() as sess:
        sess.run(init)
        if on_init is not None:
            on_init(sess, tf)  # (added: the same starting weights in both frameworks)

        # Training cycle
        for epoch in range(training_epochs):
            avg_cost = 0.0
            total_batch = int(mnist.train.num_examples / batch_size)
            # Loop over all batches
            for i in range(total_batch):
                batch_x, batch_y = mnist.train.next_batch(batch_size)
                # Run optimization op (backprop) and cost op (to get loss value)
                _, c = sess.run([train_op, loss_op], feed_dict={X: batch_x, Y: batch_y})
                # Compute average loss
                avg_cost += c / total_batch
            # Display logs per epoch step
            if epoch % display_step == 0:
                print("Epoch:", "%04d" % (epoch + 1), f"cost={avg_cost:.9f}")
                history.append(avg_cost)
        print("Optimization Finished!")

        # Test model
        pred = tf.nn.softmax(logits)  # Apply softmax to logits
        correct_prediction = tf.equal(tf.argmax(pred, 1), tf.argmax(Y, 1))
        # Calculate accuracy
        accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))
        acc = accuracy.eval({X: mnist.test.images, Y: mnist.test.labels})
        print("Accuracy:", acc)
        return history, acc, sess.run(weights["out"])
