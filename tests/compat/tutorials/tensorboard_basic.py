"""aymericdamien/TensorFlow-Examples tensorboard_basic.py, plus save_restore_model.py's Saver lines.

Summaries (``tf.summary.scalar``, ``merge_all``, ``FileWriter(logs_path,
graph=tf.get_default_graph())``, ``add_summary``) and a checkpoint saved,
then restored into a fresh Session that keeps training.
"""
# ruff: noqa: UP031, B007 - the original scripts' own style (percent formats, unused loop indices), kept


def main(tf, mnist, logs_path, model_path, training_epochs=3):
    history = []
    # Parameters
    learning_rate = 0.01
    batch_size = 100
    display_epoch = 1

    # tf Graph Input
    # mnist data image of shape 8*8=64
    x = tf.placeholder(tf.float32, [None, 64], name="InputData")
    # 0-9 digits recognition => 10 classes
    y = tf.placeholder(tf.float32, [None, 10], name="LabelData")

    # Set model weights
    W = tf.Variable(tf.zeros([64, 10]), name="Weights")
    b = tf.Variable(tf.zeros([10]), name="Bias")

    # Construct model and encapsulating all ops into scopes, making
    # Tensorboard's Graph visualization more convenient
    with tf.name_scope("Model"):
        # Model
        pred = tf.nn.softmax(tf.matmul(x, W) + b)  # Softmax
    with tf.name_scope("Loss"):
        # Minimize error using cross entropy
        cost = tf.reduce_mean(-tf.reduce_sum(y * tf.log(pred), reduction_indices=1))
    with tf.name_scope("SGD"):
        # Gradient Descent
        optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)
    with tf.name_scope("Accuracy"):
        # Accuracy
        acc = tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1))
        acc = tf.reduce_mean(tf.cast(acc, tf.float32))

    # Initialize the variables (i.e. assign their default value)
    init = tf.global_variables_initializer()

    # Create a summary to monitor cost tensor
    tf.summary.scalar("loss", cost)
    # Create a summary to monitor accuracy tensor
    tf.summary.scalar("accuracy", acc)
    # Merge all summaries into a single op
    merged_summary_op = tf.summary.merge_all()

    # 'Saver' op to save and restore all the variables
    saver = tf.train.Saver()

    # Start training
    with tf.Session() as sess:
        # Run the initializer
        sess.run(init)

        # op to write logs to Tensorboard
        summary_writer = tf.summary.FileWriter(logs_path, graph=tf.get_default_graph())

        # Training cycle
        for epoch in range(training_epochs):
            avg_cost = 0.0
            total_batch = int(mnist.train.num_examples / batch_size)
            # Loop over all batches
            for i in range(total_batch):
                batch_xs, batch_ys = mnist.train.next_batch(batch_size)
                # Run optimization op (backprop), cost op (to get loss value)
                # and summary nodes
                _, c, summary = sess.run([optimizer, cost, merged_summary_op], feed_dict={x: batch_xs, y: batch_ys})
                # Write logs at every iteration
                summary_writer.add_summary(summary, epoch * total_batch + i)
                # Compute average loss
                avg_cost += c / total_batch
                history.append(c)
            # Display logs per epoch step
            if (epoch + 1) % display_epoch == 0:
                print("Epoch:", "%04d" % (epoch + 1), "cost=", f"{avg_cost:.9f}")

        print("Optimization Finished!")

        # Test model
        # Calculate accuracy
        print("Accuracy:", acc.eval({x: mnist.test.images, y: mnist.test.labels}))

        # Save model weights to disk
        save_path = saver.save(sess, model_path)
        print("Model saved in file: %s" % save_path)
        summary_writer.close()

    # Running a new session
    print("Starting 2nd session...")
    with tf.Session() as sess:
        # Initialize variables
        sess.run(init)

        # Restore model weights from previously saved model
        saver.restore(sess, model_path)
        print("Model restored from file: %s" % save_path)
        restored_acc = acc.eval({x: mnist.test.images, y: mnist.test.labels})
        batch_xs, batch_ys = mnist.train.next_batch(batch_size)
        _, c = sess.run([optimizer, cost], feed_dict={x: batch_xs, y: batch_ys})
        history.append(c)
        return history, restored_acc, summary_writer
