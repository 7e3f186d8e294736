import { MockedProvider } from '@apollo/client/testing';
import { render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../graphql/operations';
import { SubmitPage } from './SubmitPage';

const paramsSchema = { type: 'object', properties: {}, additionalProperties: false, 'x-maxBytes': 4096 };

function renderWith(sandbox: boolean) {
  const mocks = [
    {
      request: { query: PROVIDERS },
      result: {
        data: {
          providers: [
            { __typename: 'Provider', name: 'quote', title: 'Quotes', description: 'Quotes', paramsSchema, sandbox },
          ],
        },
      },
    },
  ];
  render(
    <MockedProvider mocks={mocks}>
      <MemoryRouter>
        <SubmitPage />
      </MemoryRouter>
    </MockedProvider>,
  );
}

describe('SubmitPage', () => {
  it('says when jobs will call the offline sandbox', async () => {
    renderWith(true);
    expect(await screen.findByRole('note')).toHaveTextContent(/offline sandbox/i);
  });

  it('says nothing about a sandbox when the public APIs are used', async () => {
    renderWith(false);
    await screen.findByRole('heading', { name: 'Submit a job' });
    expect(screen.queryByRole('note')).toBeNull();
  });
});
