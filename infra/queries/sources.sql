-- The domains the workspace's grounded answers cite, per model version and country over a window
-- of UTC days: per domain the answers citing it, its citations and its share of the cell's
-- citations that have a domain (the domains of GET /api/prompt-templates/{id}/sources, pooled over
-- the workspace's templates). Parameters: org id, workspace id, first day, last day (YYYY-MM-DD).
WITH answers AS (
    SELECT result_id, provider, model_id, provider_version_key, country
    FROM {answers}
    WHERE org_id = :org_id AND workspace_id = :workspace_id
        AND day BETWEEN :first_day AND :last_day
        AND status = 'succeeded' AND grounded
),
cited AS (
    SELECT a.provider, a.model_id, a.provider_version_key, a.country, c.domain, c.result_id
    FROM {citations} AS c
    JOIN answers AS a ON a.result_id = c.result_id
    WHERE c.org_id = :org_id AND c.workspace_id = :workspace_id
        AND c.day BETWEEN :first_day AND :last_day
        AND c.domain IS NOT NULL AND c.domain <> ''
)
SELECT provider, model_id, provider_version_key, country, domain,
    count(DISTINCT result_id) AS answers,
    count(*) AS citations,
    CAST(count(*) AS DOUBLE)
        / sum(count(*)) OVER (PARTITION BY provider, model_id, provider_version_key, country) AS share
FROM cited
GROUP BY provider, model_id, provider_version_key, country, domain
ORDER BY provider, model_id, provider_version_key, country, citations DESC, domain
