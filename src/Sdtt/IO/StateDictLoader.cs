using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.IO;

/// <summary>Strict loading of a safetensors file into a module, with one report of every mismatch.</summary>
public static class StateDictLoader
{
    /// <summary>Copies tensors into <paramref name="module"/>'s state dict. <paramref name="normalizeKey"/> maps a file key to a
    /// module key (or null to ignore it); <paramref name="transform"/> may reshape a tensor (for example, transpose GPT-2 Conv1D);
    /// module keys in <paramref name="optional"/> may be absent from the file. Throws one <see cref="SdttException"/> listing
    /// missing, unexpected and shape-mismatched keys.</summary>
    public static void Load(nn.Module module, SafeTensorsFile file, Func<string, string?> normalizeKey,
        ISet<string>? optional = null, Func<string, Tensor, Tensor>? transform = null)
    {
        var target = module.state_dict();
        var byModuleKey = new Dictionary<string, string>();
        var unexpected = new List<string>();
        foreach (var key in file.Entries.Keys)
        {
            var mk = normalizeKey(key);
            if (mk is null) continue;
            if (target.ContainsKey(mk)) byModuleKey[mk] = key;
            else unexpected.Add(key);
        }
        var missing = target.Keys.Where(k => !byModuleKey.ContainsKey(k) && !(optional?.Contains(k) ?? false)).ToList();
        var mismatched = new List<string>();
        foreach (var (mk, fk) in byModuleKey)
        {
            var want = target[mk].shape;
            var info = file.Entries[fk];
            var have = info.Shape;
            if (transform is not null && have.Length == 2 && want.Length == 2 && have[0] == want[1] && have[1] == want[0] && have[0] != have[1])
                continue; // the transform is expected to transpose it
            if (!want.SequenceEqual(have))
                mismatched.Add($"{fk} {SafeTensorsFile.FormatShape(have)} vs model {SafeTensorsFile.FormatShape(want)}");
        }
        if (missing.Count + unexpected.Count + mismatched.Count > 0)
        {
            static string List(string label, List<string> xs) => xs.Count == 0 ? "" :
                $" {xs.Count} {label}: {string.Join(", ", xs.Take(8))}{(xs.Count > 8 ? ", …" : "")};";
            throw new SdttException($"{file.Path}: weights do not match the model config;" +
                List("missing", missing) + List("unexpected", unexpected) + List("shape-mismatched", mismatched));
        }
        using var _ = no_grad();
        foreach (var (mk, fk) in byModuleKey)
        {
            var dst = target[mk];
            using var scope = NewDisposeScope();
            var src = file.Load(fk, dst.dtype);
            if (transform is not null) src = transform(mk, src);
            if (!src.shape.SequenceEqual(dst.shape))
                throw new SdttException($"{file.Path}: '{fk}' has shape {SafeTensorsFile.FormatShape(src.shape)} but the model needs {SafeTensorsFile.FormatShape(dst.shape)}");
            dst.copy_(src.to(dst.device));
        }
    }
}
