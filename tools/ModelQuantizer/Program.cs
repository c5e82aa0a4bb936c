using System.Globalization;
using System.Security.Cryptography;
using SemCache.Embedding.Quantization;

// semcache-model-quantizer <model.onnx> <model.int8.onnx> <expected-sha256|-> [selection] [kernel]
//   Rewrites the MatMuls with a constant weight (OnnxInt8Rewriter; selection: All, ExceptSharedInput, or roles such as
//   Expanding,Contracting; kernel: MatMulNBits, the shipped one, or DynamicQuantizeMatMul) and writes the result
//   only if its SHA-256 is the expected one ('-' accepts any and prints it), so a build never ships a model that
//   nobody has measured.
if (args.Length is < 3 or > 5)
{
    Console.Error.WriteLine("usage: semcache-model-quantizer <model.onnx> <model.int8.onnx> <expected-sha256|-> [All|ExceptSharedInput|kinds] [DynamicQuantizeMatMul|MatMulNBits]");
    return 2;
}

string input = args[0], output = args[1], expected = args[2];
Int8MatMulSelection selection = args.Length == 4 ? Enum.Parse<Int8MatMulSelection>(args[3]) : Int8MatMulSelection.All;
Int8Kernel kernel = args.Length == 5 ? Enum.Parse<Int8Kernel>(args[4]) : OnnxInt8Rewriter.ShippedKernel;
Int8RewriteResult result = OnnxInt8Rewriter.Rewrite(File.ReadAllBytes(input), selection, kernel);
string sha = Convert.ToHexStringLower(SHA256.HashData(result.Model));
if (expected != "-" && !string.Equals(sha, expected, StringComparison.OrdinalIgnoreCase))
{
    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"error: the int8 rewrite of {input} has sha256 {sha} ({result.Model.Length} bytes, {result.Rewritten} MatMuls rewritten), expected {expected}. The rewriter or its input changed: measure the new model (docs/benchmarks.md) before pinning its hash."));
    return 1;
}

Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
// Written beside the target and moved over it, so a cancelled build never leaves half a model.
string temp = output + ".tmp";
File.WriteAllBytes(temp, result.Model);
File.Move(temp, output, overwrite: true);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{output}: {result.Rewritten} MatMuls int8, {result.Kept} kept float, {result.Model.Length} bytes, sha256 {sha}"));
return 0;
