namespace Sdtt.Hub;

/// <summary>A model on a Hugging Face–style hub: a repository and a revision (branch, tag or commit), whose root holds
/// <c>config.json</c> and <c>model.safetensors</c>.</summary>
/// <param name="Repo">"owner/name", e.g. <c>jdeschena/sdtt</c>.</param>
/// <param name="Revision">Branch, tag or commit, e.g. <c>baselines_kld_step_70000</c> or <c>main</c>.</param>
/// <param name="Description">What the checkpoint is, for listings.</param>
public sealed record HubModel(string Repo, string Revision, string Description = "")
{
    /// <summary>"repo@revision".</summary>
    public override string ToString() => $"{Repo}@{Revision}";
}
