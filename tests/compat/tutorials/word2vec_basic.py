"""TensorFlow's word2vec_basic.py (skip-gram + NCE), on a generated Zipfian corpus instead of text8.

Steps kept from the original: build_dataset's vocabulary, generate_batch's
skip-gram windows, ``tf.nn.embedding_lookup`` + ``tf.nn.nce_loss``, SGD(1.0),
normalized embeddings and the cosine similarity of a validation set.
"""
# ruff: noqa: UP031, B007 - the original scripts' own style (percent formats, unused loop indices), kept

import collections
import math
import random

import numpy as np


def main(tf, num_steps=200, vocabulary_size=200, nce_sampled_values=None, on_init=None):
    history = []
    rs = np.random.RandomState(0)
    words = [f"w{int(k)}" for k in np.minimum(rs.zipf(1.3, 5000), 10**6)]  # (the original reads text8)

    def build_dataset(words, n_words):
        """Process raw inputs into a dataset."""
        count = [["UNK", -1]]
        count.extend(collections.Counter(words).most_common(n_words - 1))
        dictionary = dict()
        for word, _ in count:
            dictionary[word] = len(dictionary)
        data = list()
        unk_count = 0
        for word in words:
            index = dictionary.get(word, 0)
            if index == 0:  # dictionary['UNK']
                unk_count += 1
            data.append(index)
        count[0][1] = unk_count
        reversed_dictionary = dict(zip(dictionary.values(), dictionary.keys()))
        return data, count, dictionary, reversed_dictionary

    data, count, dictionary, reverse_dictionary = build_dataset(words, vocabulary_size)
    data_index = 0
    random.seed(0)

    # Step 3: Function to generate a training batch for the skip-gram model.
    def generate_batch(batch_size, num_skips, skip_window):
        nonlocal data_index
        assert batch_size % num_skips == 0
        assert num_skips <= 2 * skip_window
        batch = np.ndarray(shape=(batch_size), dtype=np.int32)
        labels = np.ndarray(shape=(batch_size, 1), dtype=np.int32)
        span = 2 * skip_window + 1  # [ skip_window target skip_window ]
        buffer = collections.deque(maxlen=span)
        if data_index + span > len(data):
            data_index = 0
        buffer.extend(data[data_index : data_index + span])
        data_index += span
        for i in range(batch_size // num_skips):
            context_words = [w for w in range(span) if w != skip_window]
            words_to_use = random.sample(context_words, num_skips)
            for j, context_word in enumerate(words_to_use):
                batch[i * num_skips + j] = buffer[skip_window]
                labels[i * num_skips + j, 0] = buffer[context_word]
            if data_index == len(data):
                buffer.extend(data[0:span])
                data_index = span
            else:
                buffer.append(data[data_index])
                data_index += 1
        # Backtrack a little bit to avoid skipping words in the end of a batch
        data_index = (data_index + len(data) - span) % len(data)
        return batch, labels

    # Step 4: Build and train a skip-gram model.
    batch_size = 32
    embedding_size = 16  # Dimension of the embedding vector.
    skip_window = 1  # How many words to consider left and right.
    num_skips = 2  # How many times to reuse an input to generate a label.
    num_sampled = 8  # Number of negative examples to sample.

    valid_size = 8  # Random set of words to evaluate similarity on.
    valid_window = 50  # Only pick dev samples in the head of the distribution.
    valid_examples = np.random.RandomState(1).choice(valid_window, valid_size, replace=False)

    graph = tf.get_default_graph()
    with graph.as_default():
        # Input data.
        train_inputs = tf.placeholder(tf.int32, shape=[batch_size])
        train_labels = tf.placeholder(tf.int32, shape=[batch_size, 1])
        valid_dataset = tf.constant(valid_examples, dtype=tf.int32)

        # Look up embeddings for inputs.
        embeddings = tf.Variable(tf.random_uniform([vocabulary_size, embedding_size], -1.0, 1.0))
        embed = tf.nn.embedding_lookup(embeddings, train_inputs)

        # Construct the variables for the NCE loss
        nce_weights = tf.Variable(
            tf.truncated_normal([vocabulary_size, embedding_size], stddev=1.0 / math.sqrt(embedding_size))
        )
        nce_biases = tf.Variable(tf.zeros([vocabulary_size]))

        # Compute the average NCE loss for the batch.
        # tf.nce_loss automatically draws a new sample of the negative labels each
        # time we evaluate the loss.
        loss = tf.reduce_mean(
            tf.nn.nce_loss(weights=nce_weights, biases=nce_biases, labels=train_labels, inputs=embed,
                           num_sampled=num_sampled, num_classes=vocabulary_size,
                           sampled_values=nce_sampled_values)  # (added: None in the original)
        )  # fmt: skip

        # Construct the SGD optimizer using a learning rate of 1.0.
        optimizer = tf.train.GradientDescentOptimizer(1.0).minimize(loss)

        # Compute the cosine similarity between minibatch examples and all embeddings.
        norm = tf.sqrt(tf.reduce_sum(tf.square(embeddings), 1, keep_dims=True))
        normalized_embeddings = embeddings / norm
        valid_embeddings = tf.nn.embedding_lookup(normalized_embeddings, valid_dataset)
        similarity = tf.matmul(valid_embeddings, normalized_embeddings, transpose_b=True)

        # Add variable initializer.
        init = tf.global_variables_initializer()

    # Step 5: Begin training.
    with tf.Session(graph=graph) as session:
        # We must initialize all variables before we use them.
        init.run()
        if on_init is not None:
            on_init(session, tf)  # (added: the same starting weights in both frameworks)
        print("Initialized")

        average_loss = 0
        for step in range(num_steps):
            batch_inputs, batch_labels = generate_batch(batch_size, num_skips, skip_window)
            feed_dict = {train_inputs: batch_inputs, train_labels: batch_labels}

            # We perform one update step by evaluating the optimizer op (including it
            # in the list of returned values for session.run()
            _, loss_val = session.run([optimizer, loss], feed_dict=feed_dict)
            average_loss += loss_val
            history.append(loss_val)

            if step % 50 == 0:
                if step > 0:
                    average_loss /= 50
                # The average loss is an estimate of the loss over the last 50 batches.
                print("Average loss at step ", step, ": ", average_loss)
                average_loss = 0

        sim = similarity.eval()
        for i in range(valid_size):
            valid_word = reverse_dictionary[valid_examples[i]]
            top_k = 4  # number of nearest neighbors
            nearest = (-sim[i, :]).argsort()[1 : top_k + 1]
            log_str = "Nearest to %s:" % valid_word
            for k in range(top_k):
                close_word = reverse_dictionary[nearest[k]]
                log_str = "%s %s," % (log_str, close_word)
            print(log_str)
        final_embeddings = normalized_embeddings.eval()
    return history, sim, final_embeddings
