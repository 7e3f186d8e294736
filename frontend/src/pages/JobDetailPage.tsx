import { useApolloClient, useQuery } from '@apollo/client';
import { useCallback } from 'react';
import { Link, useParams } from 'react-router';
import { ProgressBar } from '../components/ProgressBar';
import { StateBadge } from '../components/StateBadge';
import { isNotFound } from '../api/errors';
import { EmptyState, ErrorMessage, Loading } from '../components/Status';
import { JOB, JOB_EXTRAS } from '../graphql/operations';
import { FINAL_STATES, parseJsonScalar } from '../graphql/types';
import { useJobUpdates, type LiveChange } from '../hooks/useLiveJobs';
import { JobActions } from '../jobs/JobActions';
import { JobFacts } from '../jobs/JobFacts';
import { ParamsView } from '../jobs/ParamsView';
import { Timeline } from '../jobs/Timeline';
import { ResultView } from '../results/ResultView';

function NoSuchJob() {
  return (
    <EmptyState title="No such job">
      <p>
        It does not exist, or it belongs to someone else. <Link to="/jobs">Back to your jobs</Link>.
      </p>
    </EmptyState>
  );
}

export function JobDetailPage() {
  const { id = '' } = useParams();
  const client = useApolloClient();
  const job = useQuery(JOB, { variables: { id } });
  // Extra fields in their own query: missing on the server, they cost only the timeline's detail.
  const extras = useQuery(JOB_EXTRAS, { variables: { id }, errorPolicy: 'all' });

  const onLive = useCallback(
    ({ stateChanged, job: event }: LiveChange) => {
      // The result, traceback and history live in Mongo and come with the final state.
      // Straight to the network, and not merged into a query still in flight
      // (its older answer would be all the refetch got); the cache keeps the
      // final state whichever answer lands last.
      if (stateChanged && FINAL_STATES.has(event.state)) {
        const fresh = { variables: { id }, fetchPolicy: 'network-only', context: { queryDeduplication: false } } as const;
        void client.query({ query: JOB, ...fresh }).catch(() => undefined);
        void client.query({ query: JOB_EXTRAS, ...fresh, errorPolicy: 'all' }).catch(() => undefined);
      }
    },
    [client, id],
  );
  useJobUpdates(id, onLive);

  // Unknown and someone else's ids answer alike; whichever query says so first decides.
  const notFound = isNotFound(job.error) || isNotFound(extras.error) || job.data?.job === null;
  if (notFound) return <NoSuchJob />;
  if (job.error && !job.data) return <ErrorMessage title="Could not load this job" error={job.error} retry={() => void job.refetch()} />;
  if (!job.data) return <Loading what="Loading the job" />;
  const detail = job.data.job;
  if (!detail) return <NoSuchJob />;
  const extra = extras.data?.job;
  const result = parseJsonScalar(detail.result);
  const params = parseJsonScalar(detail.params);

  return (
    <article className="job-detail">
      <p>
        <Link to="/jobs">← All jobs</Link>
      </p>
      <div className="page-title">
        <h1>
          {detail.provider} job <StateBadge state={detail.state} />
        </h1>
        <JobActions id={detail.id} state={detail.state} />
      </div>
      <p className="muted">
        <code>{detail.id}</code>
      </p>
      <ProgressBar progress={detail.progress} state={detail.state} label="Job progress" />

      <div className="two-columns">
        <section className="card" aria-labelledby="facts-h">
          <h2 id="facts-h">Details</h2>
          <JobFacts job={detail} extras={extra} />
        </section>
        <section className="card" aria-labelledby="params-h">
          <h2 id="params-h">Parameters</h2>
          <ParamsView params={params} />
        </section>
      </div>

      <section className="card" aria-labelledby="timeline-h">
        <h2 id="timeline-h">Timeline</h2>
        <Timeline job={detail} extras={extra} />
        {extras.error && <p className="muted">The server does not give the attempt history yet; times above come from the job itself.</p>}
      </section>

      {(detail.error || extra?.traceback) && (
        <section className="card card--error" aria-labelledby="error-h">
          <h2 id="error-h">Error</h2>
          {detail.error && <p className="error-text">{detail.error}</p>}
          {extra?.traceback && (
            <details>
              <summary>Traceback</summary>
              <pre className="code" tabIndex={0}>
                {extra.traceback}
              </pre>
            </details>
          )}
        </section>
      )}

      <section aria-labelledby="result-h">
        <h2 id="result-h">Result</h2>
        {detail.state === 'SUCCESS' || result ? (
          <ResultView provider={detail.provider} result={result} />
        ) : (
          <p className="muted">{FINAL_STATES.has(detail.state) ? 'This job ended without a result.' : 'The result appears here when the job succeeds.'}</p>
        )}
      </section>
    </article>
  );
}
