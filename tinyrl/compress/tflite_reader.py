"""Read an int8 ``.tflite`` flatbuffer into a prepared :class:`~tinyrl.compress.model.QuantizedMLP`.

Only a plain chain of int8 FULLY_CONNECTED layers (with fused RELU/RELU6, or a following TANH) and the
QUANTIZE/DEQUANTIZE/RESHAPE ops around them is an MLP; anything else is refused with a :class:`ModelError` that
says why. A corrupt or hostile file raises the same error, never a crash.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tinyrl.compress.model import Activation, QuantizedDense, QuantizedMLP, QuantParams
from tinyrl.compress.prepare import prepare_model
from tinyrl.errors import ModelError

# ---------------------------------------------------------------------------------------------------------------------
# Loader.
# ---------------------------------------------------------------------------------------------------------------------

_FUSED: dict[int, Activation] = {0: "none", 1: "relu", 3: "relu6"}  # tflite ActivationFunctionType: NONE, RELU, RELU6


class _CorruptError(ModelError):
    """Internal: the flatbuffer's tables are inconsistent (reported as not a valid TFLite flatbuffer)."""


class _Graph:
    """Thin accessors over the ``tflite`` schema classes for one subgraph, with TinyRL's checks."""

    def __init__(self, data: bytes) -> None:
        import tflite  # lazy: importing the generated schema costs ~100 ms

        self.tfl = tflite
        self.data = data
        self.model = tflite.Model.GetRootAs(data, 0)
        self.op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.type_names = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
        if self.model.Version() != 3 or self.model.SubgraphsLength() == 0:
            # Schema version 3 is every .tflite since 2018; anything else here means the tables are garbage.
            raise _CorruptError(f"schema version {self.model.Version()}, {self.model.SubgraphsLength()} subgraphs")
        if self.model.SubgraphsLength() != 1:
            raise ModelError(f"expected one subgraph in the .tflite model, found {self.model.SubgraphsLength()}")
        self.graph = self.model.Subgraphs(0)

    def op_name(self, op: Any) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # schema v3a moved codes past 127
        if self.op_names.get(builtin) == "CUSTOM":
            return f"CUSTOM({(code.CustomCode() or b'').decode(errors='replace')})"
        return self.op_names.get(builtin, f"builtin #{builtin}")

    def tensor(self, index: int) -> Any:
        return self.graph.Tensors(int(index))

    def type_name(self, index: int) -> str:
        return self.type_names.get(self.tensor(index).Type(), "unknown")

    def name(self, index: int) -> str:
        return (self.tensor(index).Name() or b"").decode(errors="replace")

    def quant(self, index: int, what: str) -> tuple[np.ndarray, np.ndarray]:
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            raise ModelError(f"{what} tensor {self.name(index)!r} has no quantization parameters")
        zp = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(q.ScaleLength(), dtype=np.int64)
        return np.asarray(q.ScaleAsNumpy(), dtype=np.float32), np.asarray(zp, dtype=np.int64)

    def per_tensor(self, index: int, what: str) -> QuantParams:
        if self.type_name(index) != "INT8":
            raise ModelError(f"{what} tensor {self.name(index)!r} is {self.type_name(index)}, expected INT8")
        scale, zp = self.quant(index, what)
        if scale.size != 1:
            raise ModelError(
                f"{what} tensor {self.name(index)!r} must be quantized per tensor, has {scale.size} scales"
            )
        return QuantParams(scale=float(scale[0]), zero_point=int(zp[0]))

    def constant(self, index: int) -> np.ndarray | None:
        """The tensor's constant data as int8/int32 NumPy, or ``None`` for an activation tensor."""
        t = self.tensor(index)
        buf = self.model.Buffers(t.Buffer())
        if buf.Offset() > 1:  # large-model layout: data lives after the flatbuffer
            raw = self.data[buf.Offset() : buf.Offset() + buf.Size()]
            if len(raw) != buf.Size():
                raise ModelError("truncated .tflite: a constant buffer runs past the end of the file")
        elif buf.DataLength() > 0:
            raw = buf.DataAsNumpy().tobytes()
        else:
            return None
        dtype = {"INT8": np.int8, "INT32": np.int32, "FLOAT32": np.float32}.get(self.type_name(index))
        if dtype is None:
            raise ModelError(f"constant tensor {self.name(index)!r} has unsupported type {self.type_name(index)}")
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


def _dense_from_op(g: _Graph, op: Any, act_in: int, act_out: int) -> QuantizedDense:
    """Build a :class:`QuantizedDense` from a FULLY_CONNECTED operator."""
    inputs = [int(i) for i in op.InputsAsNumpy()]
    w_idx, b_idx = inputs[1], (inputs[2] if len(inputs) > 2 else -1)
    opts = g.tfl.FullyConnectedOptions()
    table = op.BuiltinOptions()
    if table is not None:
        opts.Init(table.Bytes, table.Pos)
        fused, weights_format = opts.FusedActivationFunction(), opts.WeightsFormat()
    else:
        fused, weights_format = 0, 0
    if weights_format != 0:
        raise ModelError("FULLY_CONNECTED with shuffled weights is not supported")
    if fused not in _FUSED:
        names = {v: k for k, v in vars(g.tfl.ActivationFunctionType).items() if not k.startswith("_")}
        raise ModelError(f"FULLY_CONNECTED with fused activation {names.get(fused, fused)} is not supported")
    if g.type_name(act_in) == "FLOAT32":
        raise ModelError("the model is not quantized: FULLY_CONNECTED runs on FLOAT32 activations (need full int8)")
    weights = g.constant(w_idx)
    if weights is None or weights.ndim != 2:
        raise ModelError(f"FULLY_CONNECTED weights {g.name(w_idx)!r} must be a constant 2-D tensor")
    if weights.dtype != np.int8:
        raise ModelError(f"FULLY_CONNECTED weights {g.name(w_idx)!r} are {g.type_name(w_idx)}, expected INT8")
    w_scales, w_zps = g.quant(w_idx, "weight")
    out_features = weights.shape[0]
    if w_scales.size == 1:
        w_scales = np.repeat(w_scales, out_features)
    if w_scales.size != out_features or np.any(w_zps != 0):
        raise ModelError(f"weights {g.name(w_idx)!r} must be symmetric int8 per output channel")
    if b_idx >= 0:
        bias = g.constant(b_idx)
        if bias is None or bias.dtype != np.int32 or bias.shape != (out_features,):
            raise ModelError(f"FULLY_CONNECTED bias {g.name(b_idx)!r} must be a constant int32 vector")
    else:
        bias = np.zeros(out_features, dtype=np.int32)  # the converter drops all-zero biases
    return QuantizedDense(
        weights=weights,
        bias=bias,
        weight_scales=w_scales.astype(np.float64),
        input=g.per_tensor(act_in, "FULLY_CONNECTED input"),
        output=g.per_tensor(act_out, "FULLY_CONNECTED output"),
        activation=_FUSED[fused],
    )


def _read_bytes(source: str | Path | bytes | bytearray | memoryview) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such .tflite file") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None


def load_tflite(source: str | Path | bytes | bytearray | memoryview) -> QuantizedMLP:
    """Read a full-integer ``.tflite`` MLP into a :class:`~tinyrl.compress.model.QuantizedMLP`.

    Accepted graphs are a single chain: an optional QUANTIZE (float32 → int8) at the input, any number of
    FULLY_CONNECTED ops (fused NONE/RELU/RELU6), each optionally followed by TANH, RESHAPEs that keep the feature
    width, and an optional DEQUANTIZE at the output. Multipliers, shifts, clamp bounds and tanh tables are
    precomputed on the returned layers.

    Args:
        source: Path to a ``.tflite`` file or its bytes.

    Returns:
        The model; ``run_int8`` executes it.

    Raises:
        ModelError: the bytes are not a TFLite flatbuffer (corrupt or truncated), the model is float or hybrid
            rather than full int8, it uses an unsupported operator (named in the message), or it is not a plain
            chain of layers.
    """
    label = str(source) if isinstance(source, str | Path) else "<bytes>"
    data = _read_bytes(source)
    # Identifier "TFL3" at bytes 4..8 is the cheap check; the deep checks happen while walking the tables.
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise ModelError(f"{label}: not a valid TFLite flatbuffer (missing the 'TFL3' file identifier)")
    try:
        return _load(data)
    except _CorruptError as exc:
        raise ModelError(f"{label}: not a valid TFLite flatbuffer ({exc})") from None
    except ModelError as exc:
        raise ModelError(f"{label}: {exc}") from None
    except Exception as exc:  # the generated accessors fail in many ways on garbage offsets
        raise ModelError(f"{label}: not a valid TFLite flatbuffer (corrupt or truncated: {exc})") from None


def _load(data: bytes) -> QuantizedMLP:
    g = _Graph(data)
    graph = g.graph
    if graph.InputsLength() != 1 or graph.OutputsLength() != 1:
        raise ModelError(
            f"an MLP has one input and one output tensor, this model has {graph.InputsLength()} and "
            f"{graph.OutputsLength()} (not a plain MLP)"
        )
    ops = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    names = [g.op_name(op) for op in ops]
    unsupported = sorted({n for n in names if n not in _HANDLERS})
    if unsupported:
        raise ModelError(
            f"unsupported operator(s) {', '.join(unsupported)}; an int8 MLP may only use {', '.join(sorted(_HANDLERS))}"
        )
    if not any(n == "FULLY_CONNECTED" for n in names):
        raise ModelError("the model has no FULLY_CONNECTED layer, so it is not an MLP")

    # Every activation tensor must feed exactly one op: anything else is a branch or a dead end.
    consumers: dict[int, int] = {}
    for op in ops:
        for t in op.InputsAsNumpy():
            if t >= 0 and g.constant(int(t)) is None:
                consumers[int(t)] = consumers.get(int(t), 0) + 1
    branched = [g.name(t) for t, n in consumers.items() if n > 1]
    if branched:
        raise ModelError(f"tensor {branched[0]!r} feeds several operators; only a plain chain of layers is an MLP")

    current = int(graph.InputsAsNumpy()[0])
    if g.type_name(current) == "FLOAT32" and names[0] != "QUANTIZE":
        raise ModelError(
            "the model is not quantized (FLOAT32 input and no QUANTIZE op); convert it with full "
            "integer quantization (tinyrl.compress.quantize.quantize_keras_mlp)"
        )
    layers: list[QuantizedDense] = []
    for i, (op, name) in enumerate(zip(ops, names, strict=True)):
        act_inputs = [int(t) for t in op.InputsAsNumpy() if t >= 0 and g.constant(int(t)) is None]
        outputs = [int(t) for t in op.OutputsAsNumpy()]
        if act_inputs != [current] or len(outputs) != 1:
            raise ModelError(f"operator #{i} ({name}) does not continue the chain of layers (not a plain MLP)")
        current = _HANDLERS[name](g, op, i, len(ops), current, outputs[0], layers)
    if current != int(graph.OutputsAsNumpy()[0]):
        raise ModelError("the last operator does not produce the model output (not a plain MLP)")
    return prepare_model(QuantizedMLP(layers=tuple(layers)))


_Handler = Callable[[_Graph, Any, int, int, int, int, list[QuantizedDense]], int]


def _on_fully_connected(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    layer = _dense_from_op(g, op, act_in, act_out)
    if layers and layers[-1].result != layer.input:
        raise ModelError(f"operator #{i} (FULLY_CONNECTED) requantizes its input; not supported")
    layers.append(layer)
    return act_out


def _on_tanh(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    if g.type_name(act_in) == "FLOAT32":
        raise ModelError("the model is not quantized: TANH runs on FLOAT32 activations (need full int8)")
    if not layers or layers[-1].activation != "none" or layers[-1].tanh_output is not None:
        raise ModelError(f"operator #{i} (TANH) must directly follow a FULLY_CONNECTED layer without activation")
    out_qp = g.per_tensor(act_out, "TANH output")
    if not (math.isclose(out_qp.scale, 1.0 / 128.0, rel_tol=0, abs_tol=1e-12) and out_qp.zero_point == 0):
        # TFLite Micro's int8 TANH ignores the output parameters and always produces scale 1/128, zero point 0.
        raise ModelError(f"TANH output quantization must be scale 1/128, zero point 0, got {out_qp}")
    prev = layers.pop()
    layers.append(
        QuantizedDense(
            weights=prev.weights,
            bias=prev.bias,
            weight_scales=prev.weight_scales,
            input=prev.input,
            output=prev.output,
            activation="tanh",
            tanh_output=out_qp,
        )
    )
    return act_out


def _on_reshape(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    in_shape, out_shape = g.tensor(act_in).ShapeAsNumpy(), g.tensor(act_out).ShapeAsNumpy()
    if int(in_shape[-1]) != int(out_shape[-1]):
        raise ModelError(f"operator #{i} (RESHAPE) changes the feature width {in_shape} -> {out_shape}")
    if g.type_name(act_in) != "FLOAT32" and g.per_tensor(act_in, "RESHAPE input") != g.per_tensor(
        act_out, "RESHAPE output"
    ):
        raise ModelError(f"operator #{i} (RESHAPE) changes quantization; not supported")
    return act_out


def _on_quantize(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    if i != 0 or g.type_name(act_in) != "FLOAT32":
        raise ModelError(
            f"operator #{i} (QUANTIZE) requantizes int8 inside the graph; only a float32 → int8 "
            "QUANTIZE at the model input is supported"
        )
    g.per_tensor(act_out, "QUANTIZE output")
    return act_out


def _on_dequantize(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    if i != n - 1:
        raise ModelError(f"operator #{i} (DEQUANTIZE) is only supported as the last operator")
    if g.type_name(act_in) != "INT8":
        raise ModelError(f"operator #{i} (DEQUANTIZE) dequantizes {g.type_name(act_in)}; the model is not full int8")
    return act_out


_HANDLERS: dict[str, _Handler] = {
    "FULLY_CONNECTED": _on_fully_connected,
    "TANH": _on_tanh,
    "RESHAPE": _on_reshape,
    "QUANTIZE": _on_quantize,
    "DEQUANTIZE": _on_dequantize,
}
