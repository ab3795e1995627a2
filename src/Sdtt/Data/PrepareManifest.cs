using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.IO;

namespace Sdtt.Data;

/// <summary>The manifest.json of a prepared token folder: options, splits with their checksums, and the input files.</summary>
internal static class PrepareManifest
{
    internal static void Write(string path, JsonObject manifest)
    {
        var json = manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        AtomicFile.WriteAllText(path, json + "\n");
    }

    internal static JsonObject Build(PrepareOptions o, PrepareResult r)
    {
        JsonObject Split(PreparedSplit s) => new()
        {
            ["file"] = s.File,
            ["sequences"] = s.Sequences,
            ["tokens"] = s.Tokens,
            ["documents"] = s.Documents,
            ["document_tokens"] = s.DocumentTokens,
            ["dropped_tokens"] = s.DroppedTokens,
            ["bytes"] = s.Tokens * 2,
            ["sha256"] = s.Sha256,
        };
        var splits = new JsonObject { ["train"] = Split(r.Train) };
        if (r.Valid is not null) splits["valid"] = Split(r.Valid);
        var sources = new JsonArray();
        foreach (var s in r.Sources)
            sources.Add(new JsonObject { ["path"] = s.Path, ["bytes"] = s.Bytes, ["sha256"] = s.Sha256, ["documents"] = s.Documents });
        return new JsonObject
        {
            ["format"] = "sdtt-tokens",
            ["format_version"] = 1,
            ["tokenizer"] = "gpt2",
            ["encoding"] = "r50k_base",
            ["seq_len"] = o.SeqLen,
            ["dtype"] = "uint16",
            ["byte_order"] = "little",
            ["bos_id"] = Gpt2Tokenizer.Bos,
            ["eos_id"] = Gpt2Tokenizer.Eos,
            ["mask_id"] = Gpt2Tokenizer.Mask,
            ["vocab_size"] = Gpt2Tokenizer.ModelVocabSize,
            ["wrapping"] = "each document -> GPT-2 tokens (no special tokens) + [EOS]; documents concatenated per split in path/line order; cut into seq_len-2 token chunks, each framed [BOS] chunk [EOS]; trailing remainder dropped",
            ["split"] = new JsonObject
            {
                ["by"] = "document",
                ["rule"] = "sha256(\"sdtt-split\\n{seed}\\n{relative path}\\n{line}\") < valid_fraction (line 0 for .txt), at least one document per split",
                ["seed"] = o.Seed,
                ["valid_fraction"] = o.ValidFraction,
            },
            ["documents"] = r.Documents,
            ["document_tokens"] = r.DocumentTokens,
            ["dropped_tokens"] = r.Train.DroppedTokens + (r.Valid?.DroppedTokens ?? 0),
            ["splits"] = splits,
            ["source_root"] = Path.GetFullPath(o.InputDir),
            ["source_files"] = r.Sources.Count,
            ["source_bytes"] = r.SourceBytes,
            ["sources"] = sources,
        };
    }
}
