using Sdtt;
using Sdtt.Hub;

namespace Sdtt.Tests.Hub;

public class HubCatalogTests
{
    [Theory]
    [InlineData("student", null, "kld", null, 7, "jdeschena/sdtt", "baselines_kld_step_70000")]
    [InlineData("student", null, null, null, null, "jdeschena/sdtt", "baselines_kld_step_70000")]
    [InlineData("student", null, "tvd", null, 1, "jdeschena/sdtt", "baselines_tvd_step_10000")]
    [InlineData("student", null, null, "md", 3, "jdeschena/sdtt", "scaling_400k_md_step_30000")]
    [InlineData("student", null, null, "large", null, "jdeschena/sdtt", "scaling_400k_large_step_70000")]
    [InlineData("teacher", null, null, "sm", null, "jdeschena/sdtt", "teacher_400k_sm_step_400000")]
    [InlineData("teacher", null, null, "medium", null, "jdeschena/sdtt", "teacher_400k_md_step_400000")]
    [InlineData("teacher-1m", null, null, null, null, "jdeschena/sdtt", "teacher_1M_sm")]
    [InlineData("mdlm-owt", null, null, null, null, "kuleshov-group/mdlm-owt", "main")]
    [InlineData("kuleshov-group/mdlm-owt", null, null, null, null, "kuleshov-group/mdlm-owt", "main")]
    [InlineData("jdeschena/sdtt", "scaling_400k_sm_step_50000", null, null, null, "jdeschena/sdtt", "scaling_400k_sm_step_50000")]
    [InlineData("jdeschena/sdtt@baselines_mse_step_20000", null, null, null, null, "jdeschena/sdtt", "baselines_mse_step_20000")]
    [InlineData("baselines_mse_step_40000", null, null, null, null, "jdeschena/sdtt", "baselines_mse_step_40000")]
    [InlineData("my-org/my-mirror", null, null, null, null, "my-org/my-mirror", "main")]
    [InlineData("my-org/my-mirror", "v2", null, null, null, "my-org/my-mirror", "v2")]
    public void Resolves(string name, string? rev, string? loss, string? size, int? round, string repo, string revision)
    {
        var m = HubCatalog.Resolve(name, rev, loss, size, round);
        Assert.Equal(repo, m.Repo);
        Assert.Equal(revision, m.Revision);
    }

    [Theory]
    [InlineData("student", null, "kld", "sm", null, "not both")]
    [InlineData("student", null, "l1", null, null, "unknown --loss 'l1'; valid: kld, mse, tvd")]
    [InlineData("student", null, null, "xl", null, "unknown --size 'xl'; valid: sm, md, large")]
    [InlineData("student", null, null, null, 8, "--round must be between 1 and 7")]
    [InlineData("student", null, null, null, 0, "--round must be between 1 and 7")]
    [InlineData("teacher", null, null, null, 3, "--round does not apply to 'teacher'")]
    [InlineData("mdlm-owt", null, "kld", null, null, "--loss does not apply")]
    [InlineData("mdlm-owt", "main", null, null, null, "--revision applies to OWNER/NAME only")]
    [InlineData("jdeschena/sdtt", null, null, null, null, "jdeschena/sdtt needs a revision")]
    [InlineData("jdeschena/sdtt", "baselines_kld_step_80000", null, null, null, "has no revision 'baselines_kld_step_80000'; valid: baselines_")]
    [InlineData("studnet", null, null, null, null, "unknown model 'studnet'; valid: student")]
    [InlineData("a/b", "../x", null, null, null, "invalid revision")]
    public void RejectsWithOneLineListingChoices(string name, string? rev, string? loss, string? size, int? round, string message)
    {
        var e = Assert.Throws<SdttException>(() => HubCatalog.Resolve(name, rev, loss, size, round));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void CatalogHoldsEveryRelease()
    {
        Assert.Equal(21 + 21 + 3 + 1 + 1, HubCatalog.All.Count);
        Assert.Equal(HubCatalog.All.Count, HubCatalog.All.Select(m => m.ToString()).Distinct().Count());
        Assert.Contains(HubCatalog.All, m => m.Revision == "scaling_400k_large_step_70000");
        Assert.Contains(HubCatalog.All, m => m.Revision == "baselines_tvd_step_10000");
    }

    [Fact]
    public void UrlAndCacheLayoutFollowTheHub()
    {
        using var c = new HubClient(new HubOptions { Endpoint = "https://mirror.example/", CacheDir = "/tmp/cache" });
        var m = new HubModel("jdeschena/sdtt", "teacher_1M_sm");
        Assert.Equal("https://mirror.example/jdeschena/sdtt/resolve/teacher_1M_sm/model.safetensors", c.UrlOf(m, "model.safetensors").ToString());
        Assert.Equal("/tmp/cache/jdeschena/sdtt/teacher_1M_sm", c.FolderOf(m));
        Assert.Equal(new string('a', 64), HubClient.Sha256FromEtag("\"" + new string('A', 64) + "\""));
        Assert.Null(HubClient.Sha256FromEtag("\"" + new string('a', 40) + "\""));
        Assert.Null(HubClient.Sha256FromEtag(null));
    }
}
