using System.Buffers.Binary;

namespace SemCache.Embedding.Quantization;

/// <summary>
/// Which MatMuls with a constant weight <see cref="OnnxInt8Rewriter"/> turns into int8, by the role the graph's shape
/// gives them in a BERT layer (the exports name their nodes MatMul_34 and the like, so names cannot tell).
/// </summary>
[Flags]
internal enum Int8MatMulSelection
{
    /// <summary>None: the model comes back as it was.</summary>
    None = 0,

    /// <summary>MatMuls that share their A input with another such MatMul: the query, key and value projections.</summary>
    SharedInput = 1,

    /// <summary>The others with a square weight (K = N): the attention output projection.</summary>
    Square = 2,

    /// <summary>The others with N &gt; K: the feed-forward input (hidden → intermediate).</summary>
    Expanding = 4,

    /// <summary>The others with K &gt; N: the feed-forward output (intermediate → hidden).</summary>
    Contracting = 8,

    /// <summary>All but the query, key and value projections, which ONNX Runtime's attention fusion looks for as float MatMuls.</summary>
    ExceptSharedInput = Square | Expanding | Contracting,

    /// <summary>Every MatMul whose B input is a 2-D float initializer.</summary>
    All = SharedInput | Square | Expanding | Contracting,
}

/// <summary>The contrib op an int8 MatMul becomes.</summary>
internal enum Int8Kernel
{
    /// <summary>
    /// <c>DynamicQuantizeMatMul</c>: int8 weights with one scale per output column; the activations are quantised to
    /// uint8 with one range per call (per tensor).
    /// </summary>
    DynamicQuantizeMatMul,

    /// <summary>
    /// <c>MatMulNBits</c> with bits = 8: int8 weights with one scale per block of <see cref="OnnxInt8Rewriter.BlockSize"/>
    /// along K; accuracy_level 4 quantises the activations to int8 per block of each row as well, so one large value
    /// costs precision only in its own block.
    /// </summary>
    MatMulNBits,
}

/// <summary>What one rewrite did.</summary>
/// <param name="Model">The rewritten model, a complete ONNX ModelProto.</param>
/// <param name="Rewritten">MatMuls replaced by <c>com.microsoft.DynamicQuantizeMatMul</c>.</param>
/// <param name="Kept">MatMuls with a constant weight left in float by the selection.</param>
internal sealed record Int8RewriteResult(byte[] Model, int Rewritten, int Kept);

/// <summary>
/// Rewrites an ONNX model so that each <c>MatMul</c> with a constant float weight becomes one of ONNX Runtime's contrib
/// ops (domain <c>com.microsoft</c>) with int8 weights, quantised symmetrically (scale = max|w| / 127, zero point 0):
/// <c>DynamicQuantizeMatMul</c> (one scale per output column, uint8 activations with one range per call), or
/// <c>MatMulNBits</c> bits = 8 (one scale per block of K, int8 activations per block). On a CPU with AVX-512 VNNI both
/// run the 8-bit products in hardware.
/// </summary>
/// <remarks>
/// Works on the protobuf wire format directly, with the field numbers of onnx/onnx.proto: every field it does not
/// change is copied byte for byte, so unknown fields and everything outside the rewritten nodes and weights pass
/// through untouched, and the same input always gives the same bytes. Only the main graph is rewritten (subgraphs of
/// control-flow nodes are copied as they are), and only weights held inside the file (not external data).
/// </remarks>
internal static class OnnxInt8Rewriter
{
    public const string Domain = "com.microsoft";
    public const string OpType = "DynamicQuantizeMatMul";

    /// <summary>
    /// The kernel Embedding:Precision Int8 uses (the build's DefaultModelInt8Kernel must agree). MatMulNBits, because
    /// DynamicQuantizeMatMul's one activation range per call moves vectors enough (cosine 0.995 to fp32) to cost
    /// 0.024 QQP recall at threshold 0.90; per-block activations keep them at 0.9997 (docs/benchmarks.md, "Int8 model").
    /// </summary>
    public const Int8Kernel ShippedKernel = Int8Kernel.MatMulNBits;

    // onnx.proto field numbers.
    private const int ModelGraph = 7, ModelOpsetImport = 8;
    private const int OpsetDomain = 1, OpsetVersion = 2;
    private const int GraphNode = 1, GraphInitializer = 5, GraphInput = 11;
    private const int NodeInput = 1, NodeOutput = 2, NodeOpType = 4, NodeDomain = 7;
    private const int TensorDims = 1, TensorDataType = 2, TensorSegment = 3, TensorFloatData = 4, TensorName = 8,
        TensorRawData = 9, TensorExternalData = 13, TensorDataLocation = 14;
    private const int ValueInfoName = 1;
    private const int DataTypeFloat = 1, DataTypeUInt8 = 2, DataTypeInt8 = 3;
    private const int NodeAttribute = 5, AttributeName = 1, AttributeInt = 3, AttributeType = 20, AttributeTypeInt = 2;

    /// <summary>Rewrites <paramref name="model"/>; a model with no MatMul to rewrite comes back byte-identical.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an ONNX model with a graph.</exception>
    public static Int8RewriteResult Rewrite(ReadOnlyMemory<byte> model, Int8MatMulSelection selection = Int8MatMulSelection.All, Int8Kernel kernel = Int8Kernel.DynamicQuantizeMatMul)
    {
        List<ProtoField> modelFields = ProtoReader.ReadFields(model);
        int graphIndex = modelFields.FindIndex(f => f.Number == ModelGraph && f.Type == WireType.LengthDelimited);
        if (graphIndex < 0)
        {
            throw new InvalidDataException("The file is not an ONNX model: it has no graph (ModelProto field 7).");
        }

        (byte[]? graph, int rewritten, int kept) = RewriteGraph(modelFields[graphIndex].Payload, selection, kernel);
        if (graph is null)
        {
            return new Int8RewriteResult(model.ToArray(), 0, kept);
        }

        bool hasDomain = modelFields.Exists(f => f.Number == ModelOpsetImport && f.Type == WireType.LengthDelimited
            && ProtoReader.ReadFields(f.Payload).Exists(o => o.Number == OpsetDomain && o.Type == WireType.LengthDelimited && o.Text == Domain));
        int lastOpset = modelFields.FindLastIndex(f => f.Number == ModelOpsetImport);
        var writer = new ProtoWriter(model.Length);
        for (int i = 0; i < modelFields.Count; i++)
        {
            if (i == graphIndex)
            {
                writer.WriteBytesField(ModelGraph, graph);
            }
            else
            {
                writer.WriteRaw(modelFields[i].Raw.Span);
            }

            // The contrib domain's opset goes beside the others (or after the graph in a model that declares none).
            if (!hasDomain && (i == lastOpset || (lastOpset < 0 && i == graphIndex)))
            {
                var opset = new ProtoWriter();
                opset.WriteStringField(OpsetDomain, Domain);
                opset.WriteVarintField(OpsetVersion, 1);
                writer.WriteBytesField(ModelOpsetImport, opset.WrittenMemory.Span);
            }
        }

        return new Int8RewriteResult(writer.ToArray(), rewritten, kept);
    }

    /// <summary>
    /// Symmetric per-column int8: for a row-major <c>[rows, columns]</c> matrix, column j's scale is max|w[·, j]| / 127
    /// (1 for an all-zero column) and q = round(w / scale), ties to even, within ±127.
    /// </summary>
    public static void QuantizePerColumn(ReadOnlySpan<float> weights, int rows, int columns, Span<sbyte> quantized, Span<float> scales)
    {
        scales[..columns].Clear();
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = weights.Slice(r * columns, columns);
            for (int c = 0; c < columns; c++)
            {
                scales[c] = MathF.Max(scales[c], MathF.Abs(row[c]));
            }
        }

        for (int c = 0; c < columns; c++)
        {
            scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        }

        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = weights.Slice(r * columns, columns);
            Span<sbyte> target = quantized.Slice(r * columns, columns);
            for (int c = 0; c < columns; c++)
            {
                target[c] = (sbyte)Math.Clamp(MathF.Round(row[c] / scales[c], MidpointRounding.ToEven), -127f, 127f);
            }
        }
    }

    private static (byte[]? Graph, int Rewritten, int Kept) RewriteGraph(ReadOnlyMemory<byte> graph, Int8MatMulSelection selection, Int8Kernel kernel)
    {
        List<ProtoField> fields = ProtoReader.ReadFields(graph);

        var weights = new Dictionary<string, FloatMatrix>(StringComparer.Ordinal);
        foreach (ProtoField field in fields)
        {
            if (field.Number == GraphInitializer && field.Type == WireType.LengthDelimited && FloatMatrix.TryRead(field.Payload) is { } matrix)
            {
                weights.TryAdd(matrix.Name, matrix);
            }
        }

        // Every node, with how many nodes read each name and how many constant-weight MatMuls read each activation.
        var nodes = new List<(int FieldIndex, NodeView Node)>();
        var readers = new Dictionary<string, int>(StringComparer.Ordinal);
        var matMulsOnInput = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < fields.Count; i++)
        {
            if (fields[i].Number != GraphNode || fields[i].Type != WireType.LengthDelimited)
            {
                continue;
            }

            var node = NodeView.Read(fields[i].Payload);
            nodes.Add((i, node));
            foreach (string input in node.Inputs)
            {
                readers[input] = readers.GetValueOrDefault(input) + 1;
            }

            if (IsConstantMatMul(node, weights))
            {
                matMulsOnInput[node.Inputs[0]] = matMulsOnInput.GetValueOrDefault(node.Inputs[0]) + 1;
            }
        }

        var replaced = new Dictionary<int, byte[]>();
        var quantizedWeights = new Dictionary<string, int>(StringComparer.Ordinal);
        int kept = 0;
        foreach ((int index, NodeView node) in nodes)
        {
            if (!IsConstantMatMul(node, weights))
            {
                continue;
            }

            if (!selection.HasFlag(Kind(node, weights[node.Inputs[1]], matMulsOnInput)))
            {
                kept++;
                continue;
            }

            string weight = node.Inputs[1];
            quantizedWeights[weight] = quantizedWeights.GetValueOrDefault(weight) + 1;
            FloatMatrix matrix = weights[weight];
            replaced[index] = kernel == Int8Kernel.MatMulNBits
                ? node.ToMatMulNBits(QuantizedName(weight), ScaleName(weight), matrix.Rows, matrix.Columns)
                : node.ToDynamicQuantizeMatMul(QuantizedName(weight), ScaleName(weight));
        }

        if (replaced.Count == 0)
        {
            return (null, 0, kept);
        }

        // A float weight read by nothing but rewritten MatMuls is dropped (and its graph input, in models from before IR 4).
        var dropped = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string weight, int uses) in quantizedWeights)
        {
            if (readers[weight] == uses)
            {
                dropped.Add(weight);
            }
        }

        var writer = new ProtoWriter(graph.Length);
        var written = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < fields.Count; i++)
        {
            ProtoField field = fields[i];
            if (replaced.TryGetValue(i, out byte[]? node))
            {
                writer.WriteBytesField(GraphNode, node);
                continue;
            }

            if (field.Number == GraphInitializer && field.Type == WireType.LengthDelimited && FloatMatrix.TryRead(field.Payload) is { } matrix
                && quantizedWeights.ContainsKey(matrix.Name))
            {
                // The int8 weight and its scales take the float weight's place in the file.
                if (!dropped.Contains(matrix.Name))
                {
                    writer.WriteRaw(field.Raw.Span);
                }

                if (written.Add(matrix.Name))
                {
                    if (kernel == Int8Kernel.MatMulNBits)
                    {
                        WriteBlockQuantized(writer, matrix);
                    }
                    else
                    {
                        WriteQuantized(writer, matrix);
                    }
                }

                continue;
            }

            if (field.Number == GraphInput && field.Type == WireType.LengthDelimited && dropped.Count > 0 && IsDroppedInput(field.Payload, dropped))
            {
                continue;
            }

            writer.WriteRaw(field.Raw.Span);
        }

        return (writer.ToArray(), replaced.Count, kept);
    }

    private static Int8MatMulSelection Kind(NodeView node, FloatMatrix weight, Dictionary<string, int> matMulsOnInput) =>
        matMulsOnInput[node.Inputs[0]] > 1 ? Int8MatMulSelection.SharedInput
        : weight.Rows == weight.Columns ? Int8MatMulSelection.Square
        : weight.Columns > weight.Rows ? Int8MatMulSelection.Expanding
        : Int8MatMulSelection.Contracting;

    private static bool IsConstantMatMul(NodeView node, Dictionary<string, FloatMatrix> weights) =>
        node.OpType == "MatMul" && node.Domain is "" or "ai.onnx" && node.Inputs.Count == 2 && weights.ContainsKey(node.Inputs[1]);

    private static bool IsDroppedInput(ReadOnlyMemory<byte> valueInfo, HashSet<string> dropped)
    {
        foreach (ProtoField field in ProtoReader.ReadFields(valueInfo))
        {
            if (field.Number == ValueInfoName && field.Type == WireType.LengthDelimited)
            {
                return dropped.Contains(field.Text);
            }
        }

        return false;
    }

    internal static string QuantizedName(string weight) => weight + "_int8";

    internal static string ScaleName(string weight) => weight + "_int8_scale";

    private static void WriteQuantized(ProtoWriter writer, FloatMatrix matrix)
    {
        float[] values = matrix.ReadValues();
        var quantized = new sbyte[values.Length];
        var scales = new float[matrix.Columns];
        QuantizePerColumn(values, matrix.Rows, matrix.Columns, quantized, scales);

        var tensor = new ProtoWriter(quantized.Length + 64);
        tensor.WritePackedInt64Field(TensorDims, [matrix.Rows, matrix.Columns]);
        tensor.WriteVarintField(TensorDataType, DataTypeInt8);
        tensor.WriteStringField(TensorName, QuantizedName(matrix.Name));
        tensor.WriteBytesField(TensorRawData, System.Runtime.InteropServices.MemoryMarshal.AsBytes(quantized.AsSpan()));
        writer.WriteBytesField(GraphInitializer, tensor.WrittenMemory.Span);

        var scale = new ProtoWriter(scales.Length * 4 + 64);
        scale.WritePackedInt64Field(TensorDims, [matrix.Columns]);
        scale.WriteVarintField(TensorDataType, DataTypeFloat);
        scale.WriteStringField(TensorName, ScaleName(matrix.Name));
        scale.WriteFloatsAsBytesField(TensorRawData, scales);
        writer.WriteBytesField(GraphInitializer, scale.WrittenMemory.Span);
    }

    /// <summary>Weights per block along K for <see cref="Int8Kernel.MatMulNBits"/>.</summary>
    public const int BlockSize = 32;

    // MatMulNBits wants B transposed, [N, K / block, block] as uint8 with the default zero point 128, and one scale per
    // (column, block): symmetric, scale = max|w| / 127 over the block.
    private static void WriteBlockQuantized(ProtoWriter writer, FloatMatrix matrix)
    {
        float[] values = matrix.ReadValues();
        int k = matrix.Rows, n = matrix.Columns, blocks = (k + BlockSize - 1) / BlockSize;
        var quantized = new byte[n * blocks * BlockSize];
        var scales = new float[n * blocks];
        for (int column = 0; column < n; column++)
        {
            for (int block = 0; block < blocks; block++)
            {
                int start = block * BlockSize, end = Math.Min(k, start + BlockSize);
                float max = 0;
                for (int row = start; row < end; row++)
                {
                    max = MathF.Max(max, MathF.Abs(values[row * n + column]));
                }

                float step = max > 0 ? max / 127f : 1f;
                scales[column * blocks + block] = step;
                int offset = (column * blocks + block) * BlockSize;
                for (int row = start; row < start + BlockSize; row++)
                {
                    float q = row < end ? Math.Clamp(MathF.Round(values[row * n + column] / step, MidpointRounding.ToEven), -127f, 127f) : 0f;
                    quantized[offset + row - start] = (byte)(q + 128);
                }
            }
        }

        var tensor = new ProtoWriter(quantized.Length + 64);
        tensor.WritePackedInt64Field(TensorDims, [n, blocks, BlockSize]);
        tensor.WriteVarintField(TensorDataType, DataTypeUInt8);
        tensor.WriteStringField(TensorName, QuantizedName(matrix.Name));
        tensor.WriteBytesField(TensorRawData, quantized);
        writer.WriteBytesField(GraphInitializer, tensor.WrittenMemory.Span);

        var scale = new ProtoWriter(scales.Length * 4 + 64);
        scale.WritePackedInt64Field(TensorDims, [scales.Length]);
        scale.WriteVarintField(TensorDataType, DataTypeFloat);
        scale.WriteStringField(TensorName, ScaleName(matrix.Name));
        scale.WriteFloatsAsBytesField(TensorRawData, scales);
        writer.WriteBytesField(GraphInitializer, scale.WrittenMemory.Span);
    }

    /// <summary>The parts of a NodeProto the rewrite reads.</summary>
    private sealed class NodeView
    {
        private List<ProtoField> _fields = [];

        public List<string> Inputs { get; } = [];

        public string OpType { get; private set; } = "";

        public string Domain { get; private set; } = "";

        public static NodeView Read(ReadOnlyMemory<byte> payload)
        {
            var node = new NodeView { _fields = ProtoReader.ReadFields(payload) };
            foreach (ProtoField field in node._fields)
            {
                if (field.Type != WireType.LengthDelimited)
                {
                    continue;
                }

                switch (field.Number)
                {
                    case NodeInput: node.Inputs.Add(field.Text); break;
                    case NodeOpType: node.OpType = field.Text; break;
                    case NodeDomain: node.Domain = field.Text; break;
                }
            }

            return node;
        }

        /// <summary>The same node as MatMulNBits(A, B, scales) with bits 8, block <see cref="BlockSize"/>, accuracy_level 4 (int8 compute).</summary>
        public byte[] ToMatMulNBits(string quantizedWeight, string scale, int k, int n) =>
            Rewrite("MatMulNBits", quantizedWeight, scale, writer =>
            {
                WriteIntAttribute(writer, "K", k);
                WriteIntAttribute(writer, "N", n);
                WriteIntAttribute(writer, "bits", 8);
                WriteIntAttribute(writer, "block_size", BlockSize);
                WriteIntAttribute(writer, "accuracy_level", 4);
            });

        /// <summary>The same node (outputs, name, attributes, doc string in their places) as DynamicQuantizeMatMul(A, B int8, b_scale).</summary>
        public byte[] ToDynamicQuantizeMatMul(string quantizedWeight, string scale) =>
            Rewrite(OnnxInt8Rewriter.OpType, quantizedWeight, scale, static _ => { });

        // The node with its inputs (A, weight, scale), op type and domain replaced, every other field copied in its
        // place, and the new op's attributes appended before the domain.
        private byte[] Rewrite(string opType, string quantizedWeight, string scale, Action<ProtoWriter> attributes)
        {
            var writer = new ProtoWriter();
            bool inputsWritten = false;
            foreach (ProtoField field in _fields)
            {
                switch (field.Number)
                {
                    case NodeInput:
                        if (!inputsWritten)
                        {
                            writer.WriteStringField(NodeInput, Inputs[0]);
                            writer.WriteStringField(NodeInput, quantizedWeight);
                            writer.WriteStringField(NodeInput, scale);
                            inputsWritten = true;
                        }

                        break;
                    case NodeOpType:
                        writer.WriteStringField(NodeOpType, opType);
                        break;
                    case NodeDomain:
                        break;
                    default:
                        writer.WriteRaw(field.Raw.Span);
                        break;
                }
            }

            attributes(writer);
            writer.WriteStringField(NodeDomain, OnnxInt8Rewriter.Domain);
            return writer.ToArray();
        }

        private static void WriteIntAttribute(ProtoWriter writer, string name, long value)
        {
            var attribute = new ProtoWriter();
            attribute.WriteStringField(AttributeName, name);
            attribute.WriteVarintField(AttributeInt, (ulong)value);
            attribute.WriteVarintField(AttributeType, AttributeTypeInt);
            writer.WriteBytesField(NodeAttribute, attribute.WrittenMemory.Span);
        }
    }

    /// <summary>A 2-D float initializer held in the file (raw_data or float_data).</summary>
    private sealed record FloatMatrix(string Name, int Rows, int Columns, ReadOnlyMemory<byte> RawData, List<ProtoField> FloatData)
    {
        public static FloatMatrix? TryRead(ReadOnlyMemory<byte> tensor)
        {
            var dims = new List<long>();
            long dataType = 0;
            string? name = null;
            ReadOnlyMemory<byte> raw = default;
            bool hasRaw = false;
            var floatData = new List<ProtoField>();
            foreach (ProtoField field in ProtoReader.ReadFields(tensor))
            {
                switch (field.Number)
                {
                    case TensorDims: ProtoReader.AddInt64s(field, dims); break;
                    case TensorDataType: dataType = (long)field.Varint; break;
                    case TensorName: name = field.Text; break;
                    case TensorRawData: raw = field.Payload; hasRaw = true; break;
                    case TensorFloatData: floatData.Add(field); break;
                    case TensorSegment or TensorExternalData: return null;
                    case TensorDataLocation when field.Varint != 0: return null;
                }
            }

            if (name is null || dataType != DataTypeFloat || dims.Count != 2 || dims[0] <= 0 || dims[1] <= 0 || dims[0] * dims[1] > int.MaxValue / 4)
            {
                return null;
            }

            var matrix = new FloatMatrix(name, (int)dims[0], (int)dims[1], raw, floatData);
            long count = dims[0] * dims[1];
            bool complete = hasRaw ? raw.Length == count * 4 : matrix.CountFloatData() == count;
            return complete ? matrix : null;
        }

        public float[] ReadValues()
        {
            var values = new float[Rows * Columns];
            int n = 0;
            if (FloatData.Count == 0)
            {
                ReadOnlySpan<byte> span = RawData.Span;
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]);
                }

                return values;
            }

            foreach (ProtoField field in FloatData)
            {
                ReadOnlySpan<byte> span = field.Payload.Span;
                for (int i = 0; i + 4 <= span.Length; i += 4)
                {
                    values[n++] = BinaryPrimitives.ReadSingleLittleEndian(span[i..]);
                }
            }

            return values;
        }

        private long CountFloatData()
        {
            long count = 0;
            foreach (ProtoField field in FloatData)
            {
                count += field.Payload.Length / 4;
            }

            return count;
        }
    }
}
