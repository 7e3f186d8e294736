import { useQuery } from '@apollo/client';
import { useSearchParams } from 'react-router';
import { EmptyState, ErrorMessage, Loading } from '../components/Status';
import { PROVIDERS } from '../graphql/operations';
import { SubmitForm } from '../submit/SubmitForm';

export function SubmitPage() {
  const { data, loading, error, refetch } = useQuery(PROVIDERS);
  const [params, setParams] = useSearchParams();

  if (error && !data) return <ErrorMessage title="Could not load the providers" error={error} retry={() => void refetch()} />;
  if (loading && !data) return <Loading what="Loading providers" />;
  const providers = data?.providers ?? [];
  if (providers.length === 0) return <EmptyState title="No providers are installed on the server." />;

  const chosen = providers.find((p) => p.name === params.get('provider')) ?? providers[0]!;
  return (
    <>
      <h1>Submit a job</h1>
      <div className="field">
        <label htmlFor="provider">Provider</label>
        <select id="provider" value={chosen.name} onChange={(e) => setParams({ provider: e.target.value }, { replace: true })}>
          {providers.map((p) => (
            <option key={p.name} value={p.name}>
              {p.title}
            </option>
          ))}
        </select>
        <p className="field__help" id="provider-description">
          {chosen.description}
        </p>
      </div>
      {chosen.sandbox && (
        <p className="notice" role="note">
          Offline sandbox: the public APIs are unreachable from the server, so this job will get
          recorded-style answers from the provider sandbox, not live data.
        </p>
      )}
      {/* keyed: another provider is another form, with fresh state */}
      <SubmitForm key={chosen.name} provider={chosen} />
    </>
  );
}
