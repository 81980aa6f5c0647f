"""The seed's TensorFlow 1 program, unchanged except for its import: a static graph run in a Session.

Placeholders, Variables, reduce_mean(square), GradientDescentOptimizer(0.5),
Session.run with feed_dict and ``loss.eval`` — the define-then-run model, on
the same op table as ember's eager mode. (The seed's two bugs are fixed:
``x_test`` is defined, and the last ``sess.run`` is inside the ``with`` block.)
tests/compat/test_v1_core.py runs the same program under tensorflow.compat.v1
and compares every step.
"""

import numpy as np

import ember.compat.v1 as tf  # was: import tensorflow as tf

rng = np.random.RandomState(0)
x_data = rng.rand(100, 1).astype(np.float32)
y_data = 2 * x_data + 1 + rng.rand(100, 1).astype(np.float32)

x = tf.placeholder(tf.float32, [None, 1])
y = tf.placeholder(tf.float32, [None, 1])
w = tf.Variable(tf.zeros([1, 1]))
b = tf.Variable(tf.zeros([1]))
y_pred = tf.matmul(x, w) + b
loss = tf.reduce_mean(tf.square(y_pred - y))
train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(201):
        sess.run(train, feed_dict={x: x_data, y: y_data})
        if step % 50 == 0:
            print(step, sess.run(w).ravel(), sess.run(b), loss.eval(feed_dict={x: x_data, y: y_data}))
    x_test = np.array([[0.0], [0.5], [1.0]], dtype=np.float32)
    print("predictions for", x_test.ravel(), "->", sess.run(y_pred, feed_dict={x: x_test}).ravel())

print("the graph the Session ran:")
print(tf.get_default_graph())
