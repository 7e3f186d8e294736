import { MockedProvider, type MockedResponse } from '@apollo/client/testing';
import { act, render, screen } from '@testing-library/react';
import { GraphQLError } from 'graphql';
import { MemoryRouter, Route, Routes } from 'react-router';
import { createCache } from '../api/apollo';
import { JOB, JOB_EXTRAS, JOB_UPDATED } from '../graphql/operations';
import { JobDetailPage } from './JobDetailPage';

const ID = '0b8f5f0e-3c1e-4d7a-9f61-2f3a4b5c6d7e';

/** What jobs/api/access.py answers for an unknown id and for someone else's job alike. */
function notFound(query: typeof JOB | typeof JOB_EXTRAS, delay: number): MockedResponse {
  return {
    request: { query, variables: { id: ID } },
    delay,
    result: {
      data: { job: null },
      errors: [
        new GraphQLError(`no job with id ${ID}`, {
          extensions: { code: 'BAD_USER_INPUT', field: 'id', rule: 'not_found' },
        }),
      ],
    },
  };
}

const subscription: MockedResponse = {
  request: { query: JOB_UPDATED, variables: { id: ID } },
  result: { data: { jobUpdated: null } },
};

function renderPage(mocks: MockedResponse[]) {
  render(
    <MockedProvider mocks={mocks} cache={createCache()}>
      <MemoryRouter initialEntries={[`/jobs/${ID}`]}>
        <Routes>
          <Route path="/jobs/:id" element={<JobDetailPage />} />
        </Routes>
      </MemoryRouter>
    </MockedProvider>,
  );
}

describe('JobDetailPage for a job the viewer may not see', () => {
  it.each([
    ['the job query answers first', 0, 50],
    ['the extras query answers first', 50, 0],
    ['both answer together', 0, 0],
  ])('says "No such job" when %s', async (_case, jobDelay, extrasDelay) => {
    renderPage([notFound(JOB, jobDelay), notFound(JOB_EXTRAS, extrasDelay), subscription]);
    expect(await screen.findByText('No such job')).toBeInTheDocument();
    // Still so once both have answered.
    await act(() => new Promise((resolve) => setTimeout(resolve, 80)));
    expect(screen.getByText('No such job')).toBeInTheDocument();
    expect(screen.queryByText(/Could not load this job/)).not.toBeInTheDocument();
    expect(screen.queryByText(/no job with id/)).not.toBeInTheDocument();
  });
});
