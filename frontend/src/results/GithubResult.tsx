import { formatDateTime, formatInteger, formatNumber } from '../format';
import type { GithubResultDoc } from './shapes';
import { StatList } from './StatList';

/** A repository report: what it is, how popular, languages, releases, top contributors. */
export function GithubResult({ result }: { result: GithubResultDoc }) {
  const repo = result.repository;
  const { summary } = result;
  return (
    <div className="result result--github">
      <section className="card">
        <h3>
          <a href={repo.html_url} target="_blank" rel="noreferrer noopener">
            {repo.full_name}
          </a>
          {repo.archived && <span className="badge badge--muted"> archived</span>}
          {repo.fork && <span className="badge badge--muted"> fork</span>}
        </h3>
        {repo.description && <p>{repo.description}</p>}
        <StatList
          items={[
            ['Stars', formatInteger(repo.stars)],
            ['Forks', formatInteger(repo.forks)],
            ['Watchers', formatInteger(repo.watchers)],
            ['Open issues', formatInteger(repo.open_issues)],
            ['Latest release', summary.latest_release ?? 'none'],
            ['Top language', summary.top_language ?? '—'],
            ['Top contributor', summary.top_contributor ?? '—'],
            ['License', repo.license ?? 'none'],
          ]}
        />
        <p className="muted">
          Created {formatDateTime(repo.created_at)} · last push {formatDateTime(repo.pushed_at)} · default branch{' '}
          {repo.default_branch}
        </p>
        {repo.topics.length > 0 && (
          <ul className="tags" aria-label="Topics">
            {repo.topics.map((t) => (
              <li key={t} className="tag">
                {t}
              </li>
            ))}
          </ul>
        )}
      </section>

      {result.languages.length > 0 && (
        <section className="card">
          <h3>Languages</h3>
          <ul className="bars">
            {result.languages.map((lang) => (
              <li key={lang.name}>
                <span className="bars__label">{lang.name}</span>
                <span className="bars__track" aria-hidden="true">
                  <span className="bars__fill" style={{ width: `${Math.min(100, lang.percent)}%` }} />
                </span>
                <span className="bars__value">{formatNumber(lang.percent, 1)}%</span>
              </li>
            ))}
          </ul>
        </section>
      )}

      <div className="two-columns">
        <section className="card">
          <h3>Recent releases ({summary.releases})</h3>
          {result.releases.length === 0 ? (
            <p className="muted">No releases.</p>
          ) : (
            <ol className="plain-list">
              {result.releases.map((r) => (
                <li key={r.tag}>
                  <a href={r.url} target="_blank" rel="noreferrer noopener">
                    {r.tag}
                  </a>
                  {r.prerelease && <span className="badge badge--muted">pre-release</span>}
                  <span className="muted"> {formatDateTime(r.published_at)}</span>
                </li>
              ))}
            </ol>
          )}
        </section>
        <section className="card">
          <h3>Top contributors ({summary.contributors})</h3>
          {result.contributors.length === 0 ? (
            <p className="muted">No contributors listed.</p>
          ) : (
            <ol className="plain-list">
              {result.contributors.map((c) => (
                <li key={c.login}>
                  <a href={c.url} target="_blank" rel="noreferrer noopener">
                    {c.login}
                  </a>
                  <span className="muted"> {formatInteger(c.contributions)} commits</span>
                </li>
              ))}
            </ol>
          )}
        </section>
      </div>
      {result.rate_limit && (
        <p className="muted">
          GitHub API quota left after this report: {result.rate_limit.remaining} of {result.rate_limit.limit}.
        </p>
      )}
    </div>
  );
}
