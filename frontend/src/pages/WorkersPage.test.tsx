import { MockedProvider, type MockedResponse } from '@apollo/client/testing';
import { render, screen, within } from '@testing-library/react';
import { STATS, WORKERS } from '../graphql/operations';
import type { WorkerInfo } from '../graphql/types';
import { WorkersPage } from './WorkersPage';

const long_ago = '2020-01-01T00:00:00Z';

function worker(name: string, extra: Partial<WorkerInfo>): WorkerInfo & { __typename: 'Worker' } {
  return {
    __typename: 'Worker',
    name,
    hostname: 'box',
    pid: 42,
    queues: ['high', 'default', 'low'],
    pool: 'threads',
    concurrency: 8,
    active: 1,
    processed: 10,
    startedAt: long_ago,
    // An old heartbeat: the status shown must still be the server's.
    lastSeen: long_ago,
    status: 'online',
    problem: null,
    partitions: ['jobs.high[0]', 'jobs.default[1]'],
    lag: 3,
    ...extra,
  };
}

const mocks: MockedResponse[] = [
  {
    request: { query: WORKERS, variables: {} },
    result: {
      data: {
        workers: [
          worker('box:42', {}),
          worker('box:43', { status: 'unreachable', partitions: [], lag: null }),
          worker('box:44', {
            status: 'unhealthy',
            problem: 'MongoDB unavailable: ServerSelectionTimeoutError: timed out',
          }),
        ],
      },
    },
  },
  {
    request: { query: STATS, variables: { minutes: 15 } },
    result: { data: { stats: { __typename: 'Stats', total: 0, byState: [], throughput: [], finishedPerMinute: 0 } } },
  },
];

describe('WorkersPage', () => {
  it("shows each worker's status, partitions and lag as the server gives them", async () => {
    render(
      <MockedProvider mocks={mocks}>
        <WorkersPage />
      </MockedProvider>,
    );
    const first = (await screen.findByRole('rowheader', { name: /box:42/ })).closest('tr')!;
    expect(within(first).getByRole('cell', { name: 'online' })).toBeInTheDocument();
    expect(within(first).getByRole('cell', { name: 'jobs.high[0], jobs.default[1]' })).toBeInTheDocument();
    expect(within(first).getByRole('cell', { name: '3' })).toBeInTheDocument();
    const second = screen.getByRole('rowheader', { name: /box:43/ }).closest('tr')!;
    expect(within(second).getByRole('cell', { name: 'unreachable' })).toBeInTheDocument();
    expect(within(second).getAllByRole('cell', { name: '—' }).length).toBeGreaterThanOrEqual(2);
    // A worker holding its work says why, next to its status.
    const third = screen.getByRole('rowheader', { name: /box:44/ }).closest('tr')!;
    expect(
      within(third).getByRole('cell', { name: 'unhealthy MongoDB unavailable: ServerSelectionTimeoutError: timed out' }),
    ).toBeInTheDocument();
    expect(within(first).queryByText(/unavailable/)).toBeNull();
    expect(screen.getByRole('columnheader', { name: 'Partitions' })).toBeInTheDocument();
    expect(screen.getByRole('columnheader', { name: 'Lag' })).toBeInTheDocument();
  });
});
