import { MockedProvider, type MockedResponse } from '@apollo/client/testing';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router';
import { SUBMIT_JOB } from '../graphql/operations';
import { paramSchemas } from '../test/fixtures';
import { SubmitForm } from './SubmitForm';

const weather = { name: 'weather', title: 'Weather', description: 'Daily weather', paramsSchema: paramSchemas.weather, sandbox: false };

function renderWith(mocks: MockedResponse[]) {
  render(
    <MockedProvider mocks={mocks}>
      <MemoryRouter>
        <SubmitForm provider={weather} />
      </MemoryRouter>
    </MockedProvider>,
  );
}

describe('SubmitForm', () => {
  it('sends typed params and options, and puts server errors next to their fields', async () => {
    let sent: unknown = null;
    renderWith([
      {
        request: { query: SUBMIT_JOB },
        variableMatcher: (variables) => {
          sent = variables;
          return true;
        },
        result: {
          data: {
            submitJob: {
              __typename: 'SubmitJobPayload',
              job: null,
              errors: [
                { __typename: 'FieldError', field: 'params.places[0]', rule: 'one_of', message: 'give a name or coordinates, not both' },
                { __typename: 'FieldError', field: 'countdown', rule: 'maximum', message: 'must be at most 86400' },
              ],
            },
          },
        },
      },
    ]);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Name'), 'Lisbon');
    await user.selectOptions(screen.getByLabelText('Priority'), 'high');
    await user.type(screen.getByLabelText('Delay (seconds)'), '90000');
    await user.click(screen.getByRole('button', { name: 'Submit job' }));

    expect(await within(screen.getByRole('group', { name: 'Place 1' })).findByText('give a name or coordinates, not both')).toBeInTheDocument();
    expect(screen.getByLabelText('Delay (seconds)')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText('must be at most 86400')).toBeInTheDocument();
    expect(sent).toMatchObject({
      input: { provider: 'weather', params: { places: [{ name: 'Lisbon' }], forecast_days: 7, past_days: 0 }, priority: 'HIGH', countdown: 90000 },
    });
  });

  it('does not send while the form has errors, and says how many', async () => {
    renderWith([]);
    const user = userEvent.setup();
    await user.clear(screen.getByLabelText('Number of jobs'));
    await user.type(screen.getByLabelText('Number of jobs'), '0');
    await user.click(screen.getByRole('button', { name: /Submit/ }));
    expect(screen.getByText('must have at least 1 item(s)')).toBeInTheDocument();
    expect(screen.getByText('must be a whole number, at least 1')).toBeInTheDocument();
    expect(screen.getByText('Fix the 2 marked fields first.')).toBeInTheDocument();
  });
});
