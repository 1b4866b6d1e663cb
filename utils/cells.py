"""Recurrent cells for ``keras.layers.RNN``, and the rule for when ``keras.layers.LSTM`` is fused.

`PeepholeLSTMCell` is the LSTM of Gers & Schmidhuber (2000): the input and forget gates also see
the previous cell state c_{t-1}, and the output gate sees the new cell state c_t, each through a
diagonal (element-wise) peephole weight vector. TensorFlow Addons used to ship one; it is gone, so
the course writes its own in Keras 3. It takes every argument of ``keras.layers.LSTMCell`` and
saves and loads in ``.keras`` files::

    layer = keras.layers.RNN(PeepholeLSTMCell(64), return_sequences=True)

`cudnn_lstm_blockers` says, in words, why a ``keras.layers.LSTM`` could not run the fused cuDNN
kernel, following the source of the Keras version pinned by this course (notebook 05).
"""

from __future__ import annotations

import keras
import numpy as np

from .checks import integer_at_least

PEEPHOLES = ("input", "forget", "output")  # the gates with a peephole, in weight order


@keras.saving.register_keras_serializable(package="lstm_course")
class PeepholeLSTMCell(keras.layers.LSTMCell):
    """An LSTM cell with peephole connections (Gers & Schmidhuber 2000), for ``keras.layers.RNN``.

    With z = x_t W + h_{t-1} U + b split into the quarters i, f, c, o (Keras' order)::

        i_t = sigmoid(z_i + p_i * c_{t-1})      f_t = sigmoid(z_f + p_f * c_{t-1})
        c_t = f_t * c_{t-1} + i_t * tanh(z_c)
        o_t = sigmoid(z_o + p_o * c_t)          h_t = o_t * tanh(c_t)

    The peepholes p_i, p_f, p_o are vectors of ``units`` weights (one per unit: the cell sees only
    its own memory). They start at zero by default, so a fresh cell computes exactly what a
    ``keras.layers.LSTMCell`` with the same kernel, recurrent kernel and bias computes, and
    training decides whether to use them. Every other argument is ``keras.layers.LSTMCell``'s.
    Dropout masks are shared by the four gates (as ``LSTMCell`` does for ``dropout``).
    """

    def __init__(
        self,
        units,
        peephole_initializer="zeros",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        units = integer_at_least("units", units)
        super().__init__(units, **kwargs)
        self.peephole_initializer = keras.initializers.get(peephole_initializer)
        self.peephole_regularizer = keras.regularizers.get(peephole_regularizer)
        self.peephole_constraint = keras.constraints.get(peephole_constraint)
        # LSTMCell draws four dropout masks when recurrent_dropout is set; this cell uses one.
        self.dropout_mask_count = None

    def build(self, input_shape):
        super().build(input_shape)  # kernel, recurrent_kernel and bias, as in LSTMCell
        self.input_peephole, self.forget_peephole, self.output_peephole = (
            self.add_weight(
                shape=(self.units,),
                name=f"{gate}_peephole",
                initializer=self.peephole_initializer,
                regularizer=self.peephole_regularizer,
                constraint=self.peephole_constraint,
            )
            for gate in PEEPHOLES
        )

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_prev = h_prev * self.get_recurrent_dropout_mask(h_prev)
        z = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        z_i, z_f, z_c, z_o = keras.ops.split(z, 4, axis=-1)
        input_gate = self.recurrent_activation(z_i + self.input_peephole * c_prev)
        forget_gate = self.recurrent_activation(z_f + self.forget_peephole * c_prev)
        c = forget_gate * c_prev + input_gate * self.activation(z_c)
        output_gate = self.recurrent_activation(z_o + self.output_peephole * c)  # sees c_t
        h = output_gate * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            "peephole_initializer": keras.initializers.serialize(self.peephole_initializer),
            "peephole_regularizer": keras.regularizers.serialize(self.peephole_regularizer),
            "peephole_constraint": keras.constraints.serialize(self.peephole_constraint),
        }


def _is_right_padded(mask: np.ndarray) -> bool:
    """True when every row is some True steps followed only by False steps."""
    lengths = mask.sum(axis=1)
    return bool(np.array_equal(mask, np.arange(mask.shape[1]) < lengths[:, None]))


def cudnn_lstm_blockers(layer, mask=None) -> list[str]:
    """Why ``layer`` cannot run the fused cuDNN kernel, in words; an empty list when it can.

    The rule of Keras 3.15 (``keras.layers.LSTM.inner_loop`` and the TensorFlow backend's
    ``cudnn_ok`` and ``lstm``): a ``keras.layers.LSTM`` (not ``keras.layers.RNN`` around a cell)
    with ``use_cudnn`` left at "auto" or True, activation tanh and recurrent activation sigmoid
    (the functions themselves: a lambda computing tanh does not count), no recurrent dropout,
    ``unroll=False`` and ``use_bias=True``; a mask, if any, must be right-padded with no sequence
    fully masked. A GPU is needed on top; this function does not look for one.
    """
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.dtype != bool:
            raise ValueError(f"mask must be a boolean array (batch, time), got "
                             f"{mask.dtype} {mask.shape}")
    if not isinstance(layer, keras.layers.LSTM):
        return [f"{type(layer).__name__} is not keras.layers.LSTM: only that layer has the "
                "fused kernel; keras.layers.RNN runs any cell in the generic loop"]
    import tensorflow as tf

    cell = layer.cell
    checks = [
        (layer.use_cudnn is False, "use_cudnn=False"),
        (cell.activation not in (keras.activations.tanh, keras.ops.tanh, tf.tanh),
         f"activation is {getattr(cell.activation, '__name__', cell.activation)}, not tanh"),
        (cell.recurrent_activation not in (keras.activations.sigmoid, keras.ops.sigmoid,
                                           tf.sigmoid),
         f"recurrent_activation is "
         f"{getattr(cell.recurrent_activation, '__name__', cell.recurrent_activation)}, "
         "not sigmoid"),
        (cell.recurrent_dropout > 0, f"recurrent_dropout={cell.recurrent_dropout:g}, not 0"),
        (layer.unroll, "unroll=True"),
        (not cell.use_bias, "use_bias=False"),
        (mask is not None and not _is_right_padded(mask), "the mask is not right-padded"),
        (mask is not None and bool(np.any(~mask.any(axis=1))),
         "a sequence is fully masked"),
    ]
    return [reason for blocked, reason in checks if blocked]
