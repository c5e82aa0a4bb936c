using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using SemCache.Embedding.Quantization;

namespace SemCache.Embedding.Tests;

/// <summary>The int8 rewrite on small models built here field by field (onnx.proto field numbers).</summary>
public sealed class Int8RewriterTests
{
    // W is [3, 2]: column 0's largest magnitude is 2, column 1's is 4.
    private static readonly float[] Weight = [1f, -4f, 0.5f, 2f, -2f, 1f];

    [Fact]
    public void AModelWithNothingToRewriteComesBackByteIdentical()
    {
        byte[] model = TinyModel(constantWeight: false);
        Int8RewriteResult result = OnnxInt8Rewriter.Rewrite(model);
        Assert.Equal(0, result.Rewritten);
        Assert.Equal(model, result.Model);
    }

    [Fact]
    public void ReadingAndWritingBackEveryFieldIsByteIdentical()
    {
        byte[] model = TinyModel(constantWeight: true);
        var writer = new ProtoWriter();
        foreach (ProtoField field in ProtoReader.ReadFields(model))
        {
            if (field.Number == 7)
            {
                // The graph, rebuilt from its own fields.
                var graph = new ProtoWriter();
                foreach (ProtoField inner in ProtoReader.ReadFields(field.Payload))
                {
                    graph.WriteRaw(inner.Raw.Span);
                }

                writer.WriteBytesField(7, graph.WrittenMemory.Span);
            }
            else
            {
                writer.WriteRaw(field.Raw.Span);
            }
        }

        Assert.Equal(model, writer.ToArray());
    }

    [Fact]
    public void AMatMulWithAConstantWeightIsReplacedAndTheOthersAreUntouched()
    {
        byte[] model = TinyModel(constantWeight: true);
        List<ProtoField> before = ProtoReader.ReadFields(model);
        Int8RewriteResult result = OnnxInt8Rewriter.Rewrite(model);
        Assert.Equal(1, result.Rewritten);
        List<ProtoField> after = ProtoReader.ReadFields(result.Model);

        // Every model field but the graph is copied, the unknown one included, and the contrib opset is added.
        Assert.Equal(
            before.Where(f => f.Number != 7).Select(f => f.Raw.ToArray()),
            after.Where(f => f.Number != 7 && !(f.Number == 8 && Text(f.Payload, 1) == "com.microsoft")).Select(f => f.Raw.ToArray()));
        ProtoField contrib = Assert.Single(after, f => f.Number == 8 && Text(f.Payload, 1) == "com.microsoft");
        Assert.Equal(1UL, ProtoReader.ReadFields(contrib.Payload).Single(f => f.Number == 2).Varint);
        Assert.Contains(after, f => f.Number == 99 && f.Text == "kept as it is");

        List<ProtoField> graphBefore = ProtoReader.ReadFields(before.Single(f => f.Number == 7).Payload);
        List<ProtoField> graph = ProtoReader.ReadFields(after.Single(f => f.Number == 7).Payload);
        List<ProtoField> nodes = graph.Where(f => f.Number == 1).ToList();
        Assert.Equal(2, nodes.Count);

        List<ProtoField> quantized = ProtoReader.ReadFields(nodes[0].Payload);
        Assert.Equal(["X", "W_int8", "W_int8_scale"], quantized.Where(f => f.Number == 1).Select(f => f.Text));
        Assert.Equal(["Y"], quantized.Where(f => f.Number == 2).Select(f => f.Text));
        Assert.Equal("first", Text(nodes[0].Payload, 3));
        Assert.Equal("DynamicQuantizeMatMul", Text(nodes[0].Payload, 4));
        Assert.Equal("com.microsoft", Text(nodes[0].Payload, 7));
        Assert.Equal("a doc string that travels with the node", Text(nodes[0].Payload, 6));

        // The MatMul of two activations is the very same bytes; the float weight is gone, its int8 form in its place.
        Assert.Equal(graphBefore.Where(f => f.Number == 1).ElementAt(1).Raw.ToArray(), nodes[1].Raw.ToArray());
        Assert.Equal(["W_int8", "W_int8_scale"], graph.Where(f => f.Number == 5).Select(f => Text(f.Payload, 8)));
        Assert.Equal(graphBefore.Where(f => f.Number is 11 or 12 or 2).Select(f => f.Raw.ToArray()), graph.Where(f => f.Number is 11 or 12 or 2).Select(f => f.Raw.ToArray()));
    }

    [Fact]
    public void WeightsAreSymmetricInt8WithOneScalePerColumn()
    {
        Int8RewriteResult result = OnnxInt8Rewriter.Rewrite(TinyModel(constantWeight: true));
        List<ProtoField> graph = ProtoReader.ReadFields(ProtoReader.ReadFields(result.Model).Single(f => f.Number == 7).Payload);
        List<ProtoField> weight = ProtoReader.ReadFields(graph.Single(f => f.Number == 5 && Text(f.Payload, 8) == "W_int8").Payload);
        List<ProtoField> scale = ProtoReader.ReadFields(graph.Single(f => f.Number == 5 && Text(f.Payload, 8) == "W_int8_scale").Payload);

        Assert.Equal(3UL, weight.Single(f => f.Number == 2).Varint); // INT8
        Assert.Equal(1UL, scale.Single(f => f.Number == 2).Varint); // FLOAT
        var dims = new List<long>();
        ProtoReader.AddInt64s(weight.Single(f => f.Number == 1), dims);
        Assert.Equal([3L, 2L], dims);
        dims.Clear();
        ProtoReader.AddInt64s(scale.Single(f => f.Number == 1), dims);
        Assert.Equal([2L], dims);

        float[] scales = MemoryMarshal.Cast<byte, float>(scale.Single(f => f.Number == 9).Payload.Span).ToArray();
        Assert.Equal([2f / 127f, 4f / 127f], scales);
        // 1 / (2/127) = 63.5 and 2 / (4/127) = 63.5 round to even (64); the largest magnitude of each column is ±127.
        sbyte[] values = MemoryMarshal.Cast<byte, sbyte>(weight.Single(f => f.Number == 9).Payload.Span).ToArray();
        Assert.Equal([64, -127, 32, 64, -127, 32], values);
    }

    [Fact]
    public void MatMulNBitsWeightsAreTransposedBlocksOfUInt8AroundZeroPoint128WithOneScalePerBlock()
    {
        Int8RewriteResult result = OnnxInt8Rewriter.Rewrite(TinyModel(constantWeight: true), kernel: Int8Kernel.MatMulNBits);
        List<ProtoField> graph = ProtoReader.ReadFields(ProtoReader.ReadFields(result.Model).Single(f => f.Number == 7).Payload);
        ProtoField node = graph.First(f => f.Number == 1);
        Assert.Equal("MatMulNBits", Text(node.Payload, 4));
        Dictionary<string, ulong> attributes = ProtoReader.ReadFields(node.Payload).Where(f => f.Number == 5)
            .ToDictionary(f => Text(f.Payload, 1)!, f => ProtoReader.ReadFields(f.Payload).Single(a => a.Number == 3).Varint);
        Assert.Equal(new Dictionary<string, ulong> { ["K"] = 3, ["N"] = 2, ["bits"] = 8, ["block_size"] = (ulong)OnnxInt8Rewriter.BlockSize, ["accuracy_level"] = 4 }, attributes);

        List<ProtoField> weight = ProtoReader.ReadFields(graph.Single(f => f.Number == 5 && Text(f.Payload, 8) == "W_int8").Payload);
        var dims = new List<long>();
        ProtoReader.AddInt64s(weight.Single(f => f.Number == 1), dims);
        Assert.Equal([2L, 1L, OnnxInt8Rewriter.BlockSize], dims);
        Assert.Equal(2UL, weight.Single(f => f.Number == 2).Varint); // UINT8
        byte[] values = weight.Single(f => f.Number == 9).Payload.ToArray();
        // Column 0 is 1, 0.5, -2 (scale 2/127): 64, 32, -127; column 1 is -4, 2, 1 (scale 4/127): -127, 64, 32; the block's padding is 0. Each + 128.
        Assert.Equal([192, 160, 1], values[..3]);
        Assert.All(values[3..OnnxInt8Rewriter.BlockSize], v => Assert.Equal(128, v));
        Assert.Equal([1, 192, 160], values[OnnxInt8Rewriter.BlockSize..(OnnxInt8Rewriter.BlockSize + 3)]);
        List<ProtoField> scale = ProtoReader.ReadFields(graph.Single(f => f.Number == 5 && Text(f.Payload, 8) == "W_int8_scale").Payload);
        Assert.Equal([2f / 127f, 4f / 127f], MemoryMarshal.Cast<byte, float>(scale.Single(f => f.Number == 9).Payload.Span).ToArray());
    }

    [Fact]
    public void AnAllZeroColumnGetsScaleOneAndZeros()
    {
        var quantized = new sbyte[4];
        var scales = new float[2];
        OnnxInt8Rewriter.QuantizePerColumn([0f, 3f, 0f, -1.5f], 2, 2, quantized, scales);
        Assert.Equal([1f, 3f / 127f], scales);
        Assert.Equal([0, 127, 0, -64], quantized);
    }

    [Fact]
    public void TheRewriteIsDeterministic()
    {
        byte[] model = TinyModel(constantWeight: true);
        Assert.Equal(OnnxInt8Rewriter.Rewrite(model).Model, OnnxInt8Rewriter.Rewrite(model).Model);
    }

    [Theory]
    [InlineData(Int8Kernel.DynamicQuantizeMatMul)]
    [InlineData(Int8Kernel.MatMulNBits)]
    public void OnnxRuntimeRunsTheRewrittenModelAndItsResultIsTheFloatOneWithinInt8Error(object kernel)
    {
        float[] x = [0.3f, -1.2f, 2.0f];
        float[] z = [1f, 0.5f, -0.25f, 2f];
        float[] exact = Run(TinyModel(constantWeight: true), x, z);
        float[] int8 = Run(OnnxInt8Rewriter.Rewrite(TinyModel(constantWeight: true), kernel: (Int8Kernel)kernel).Model, x, z);
        Assert.Equal(exact.Length, int8.Length);
        for (int i = 0; i < exact.Length; i++)
        {
            // Activations quantised to 255 levels over [-1.2, 2], weights to ±127 levels: a few hundredths here.
            Assert.True(Math.Abs(exact[i] - int8[i]) < 0.1, $"output {i}: {int8[i]} int8 vs {exact[i]} float");
        }
    }

    [Fact]
    public void TheSharedInputSelectionKeepsMatMulsThatReadTheSameActivationInFloat()
    {
        // Two MatMuls with constant weights on X (as a BERT layer's query, key and value), one on their output.
        byte[] model = Model(Graph(
            [Node("q", "MatMul", ["X", "W"], ["Q"]), Node("k", "MatMul", ["X", "W"], ["K"]), Node("o", "MatMul", ["Q", "W2"], ["Y"])],
            [Tensor("W", [3, 2], Weight), Tensor("W2", [2, 2], [1f, 2f, 3f, 4f])],
            [ValueInfo("X", [1, 3])],
            [ValueInfo("Y", [1, 2]), ValueInfo("K", [1, 2])]));
        Int8RewriteResult all = OnnxInt8Rewriter.Rewrite(model);
        Assert.Equal((3, 0), (all.Rewritten, all.Kept));
        Int8RewriteResult some = OnnxInt8Rewriter.Rewrite(model, Int8MatMulSelection.ExceptSharedInput);
        Assert.Equal((1, 2), (some.Rewritten, some.Kept));

        // W is still read by the float MatMuls, so it stays; W2 is replaced.
        List<ProtoField> graph = ProtoReader.ReadFields(ProtoReader.ReadFields(some.Model).Single(f => f.Number == 7).Payload);
        Assert.Equal(["W", "W2_int8", "W2_int8_scale"], graph.Where(f => f.Number == 5).Select(f => Text(f.Payload, 8)));
    }

    [Theory]
    [InlineData("Expanding", "up")]
    [InlineData("Contracting", "down")]
    [InlineData("Square", "square")]
    [InlineData("Expanding, Contracting", "up,down")]
    [InlineData("SharedInput", "")]
    public void TheSelectionTellsTheRolesByTheWeightsShape(string kinds, string expected)
    {
        Int8MatMulSelection selection = Enum.Parse<Int8MatMulSelection>(kinds);
        // hidden 3 → intermediate 4 → hidden 3 → square, as a BERT layer's feed-forward and a projection.
        byte[] model = Model(Graph(
            [Node("up", "MatMul", ["X", "W1"], ["H"]), Node("down", "MatMul", ["H", "W2"], ["D"]), Node("square", "MatMul", ["D", "W3"], ["Y"])],
            [Tensor("W1", [3, 4], new float[12]), Tensor("W2", [4, 3], new float[12]), Tensor("W3", [3, 3], new float[9])],
            [ValueInfo("X", [1, 3])],
            [ValueInfo("Y", [1, 3])]));
        Int8RewriteResult result = OnnxInt8Rewriter.Rewrite(model, selection);
        List<ProtoField> graph = ProtoReader.ReadFields(ProtoReader.ReadFields(result.Model).Single(f => f.Number == 7).Payload);
        string rewritten = string.Join(',', graph.Where(f => f.Number == 1 && Text(f.Payload, 4) == OnnxInt8Rewriter.OpType).Select(f => Text(f.Payload, 3)));
        Assert.Equal(expected, rewritten);
        Assert.Equal(3 - result.Rewritten, result.Kept);
    }

    [Fact]
    public void AWeightAlsoReadByAnotherNodeStaysBesideItsInt8Form()
    {
        byte[] model = Model(Graph(
            [Node("mm", "MatMul", ["X", "W"], ["Y"]), Node("id", "Identity", ["W"], ["V"])],
            [Tensor("W", [3, 2], Weight)],
            [ValueInfo("X", [1, 3])],
            [ValueInfo("Y", [1, 2]), ValueInfo("V", [3, 2])]));
        Int8RewriteResult result = OnnxInt8Rewriter.Rewrite(model);
        List<ProtoField> graph = ProtoReader.ReadFields(ProtoReader.ReadFields(result.Model).Single(f => f.Number == 7).Payload);
        Assert.Equal(["W", "W_int8", "W_int8_scale"], graph.Where(f => f.Number == 5).Select(f => Text(f.Payload, 8)));
    }

    [Fact]
    public void NotAModelIsRefused() => Assert.Throws<InvalidDataException>(() => OnnxInt8Rewriter.Rewrite("not a model"u8.ToArray()));

    private static float[] Run(byte[] model, float[] x, float[] z)
    {
        using var session = new InferenceSession(model);
        using var xValue = OrtValue.CreateTensorValueFromMemory(x, [1, 3]);
        using var zValue = OrtValue.CreateTensorValueFromMemory(z, [2, 2]);
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), ["X", "Z"], [xValue, zValue], ["Out"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static string? Text(ReadOnlyMemory<byte> message, int number)
    {
        foreach (ProtoField field in ProtoReader.ReadFields(message))
        {
            if (field.Number == number && field.Type == WireType.LengthDelimited)
            {
                return field.Text;
            }
        }

        return null;
    }

    /// <summary>Out = (X · W) · Z, with W a constant initializer, or a graph input when <paramref name="constantWeight"/> is false.</summary>
    internal static byte[] TinyModel(bool constantWeight)
    {
        List<byte[]> inputs = [ValueInfo("X", [1, 3]), ValueInfo("Z", [2, 2])];
        if (!constantWeight)
        {
            inputs.Add(ValueInfo("W", [3, 2]));
        }

        byte[] first = Node("first", "MatMul", ["X", "W"], ["Y"], doc: "a doc string that travels with the node");
        byte[] second = Node("second", "MatMul", ["Y", "Z"], ["Out"]);
        return Model(Graph([first, second], constantWeight ? [Tensor("W", [3, 2], Weight)] : [], inputs, [ValueInfo("Out", [1, 2])]));
    }

    private static byte[] Model(byte[] graph)
    {
        var model = new ProtoWriter();
        model.WriteVarintField(1, 8); // ir_version
        model.WriteStringField(2, "semcache-tests"); // producer_name
        var opset = new ProtoWriter();
        opset.WriteStringField(1, "");
        opset.WriteVarintField(2, 17);
        model.WriteBytesField(8, opset.WrittenMemory.Span);
        model.WriteBytesField(7, graph);
        model.WriteStringField(99, "kept as it is"); // a field no onnx.proto has: must pass through
        return model.ToArray();
    }

    private static byte[] Graph(byte[][] nodes, byte[][] initializers, IEnumerable<byte[]> inputs, IEnumerable<byte[]> outputs)
    {
        var graph = new ProtoWriter();
        foreach (byte[] node in nodes)
        {
            graph.WriteBytesField(1, node);
        }

        graph.WriteStringField(2, "tiny");
        foreach (byte[] initializer in initializers)
        {
            graph.WriteBytesField(5, initializer);
        }

        foreach (byte[] input in inputs)
        {
            graph.WriteBytesField(11, input);
        }

        foreach (byte[] output in outputs)
        {
            graph.WriteBytesField(12, output);
        }

        return graph.ToArray();
    }

    private static byte[] Node(string name, string opType, string[] inputs, string[] outputs, string? doc = null)
    {
        var node = new ProtoWriter();
        foreach (string input in inputs)
        {
            node.WriteStringField(1, input);
        }

        foreach (string output in outputs)
        {
            node.WriteStringField(2, output);
        }

        node.WriteStringField(3, name);
        node.WriteStringField(4, opType);
        if (doc is not null)
        {
            node.WriteStringField(6, doc);
        }

        return node.ToArray();
    }

    private static byte[] Tensor(string name, long[] dims, float[] values)
    {
        var tensor = new ProtoWriter();
        tensor.WritePackedInt64Field(1, dims);
        tensor.WriteVarintField(2, 1); // FLOAT
        tensor.WriteStringField(8, name);
        var raw = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), values[i]);
        }

        tensor.WriteBytesField(9, raw);
        return tensor.ToArray();
    }

    private static byte[] ValueInfo(string name, long[] shape)
    {
        var dims = new ProtoWriter();
        foreach (long dim in shape)
        {
            var dimension = new ProtoWriter();
            dimension.WriteVarintField(1, (ulong)dim); // dim_value
            dims.WriteBytesField(1, dimension.WrittenMemory.Span);
        }

        var tensorType = new ProtoWriter();
        tensorType.WriteVarintField(1, 1); // elem_type FLOAT
        tensorType.WriteBytesField(2, dims.WrittenMemory.Span); // shape
        var type = new ProtoWriter();
        type.WriteBytesField(1, tensorType.WrittenMemory.Span); // tensor_type
        var info = new ProtoWriter();
        info.WriteStringField(1, name);
        info.WriteBytesField(2, type.WrittenMemory.Span);
        return info.ToArray();
    }
}
