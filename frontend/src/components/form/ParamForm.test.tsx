import { act, fireEvent, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useEffect } from 'react';
import { useParamForm, type ParamFormState } from '../../params/useParamForm';
import type { ParamSchema } from '../../params/spec';
import { schemas } from '../../test/fixtures';
import { ParamForm } from './ParamForm';

/** Renders a generated form and hands its state to the test. */
function Harness({ schema, onState }: { schema: ParamSchema; onState: (s: ParamFormState) => void }) {
  const form = useParamForm(schema);
  useEffect(() => {
    onState(form);
  });
  return <ParamForm form={form} />;
}

function renderForm(provider: string) {
  const ref: { current: ParamFormState | null } = { current: null };
  render(<Harness schema={schemas[provider]!} onState={(s) => (ref.current = s)} />);
  return () => ref.current!;
}

describe('ParamForm generated from a parameter schema', () => {
  it('renders a labelled control per field type, with defaults and limits', () => {
    renderForm('quote');
    expect(screen.getByLabelText('Count')).toHaveValue('10');
    expect(screen.getByLabelText('Count')).toHaveAttribute('inputmode', 'numeric');
    expect(screen.getByText(/How many quotes \(1 to 200\)/)).toBeInTheDocument();
    const match = screen.getByLabelText('Match');
    expect(match.tagName).toBe('SELECT');
    expect(within(match).getAllByRole('option').map((o) => o.textContent)).toEqual(['all', 'any']);
    expect(match).toHaveValue('all');
    expect(screen.getByLabelText('Author')).toHaveAttribute('placeholder', 'e.g. Albert Einstein');
    expect(screen.getByRole('group', { name: 'Tags' })).toBeInTheDocument();
    expect(screen.getByText(/up to 5 items, no repeats/)).toBeInTheDocument();
  });

  it('renders dates as date inputs bounded by the schema', () => {
    renderForm('exchange');
    const start = screen.getByLabelText('Start');
    expect(start).toHaveAttribute('type', 'date');
    expect(start).toHaveAttribute('min', '1999-01-04');
    expect(start.getAttribute('max')).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(screen.getByText(/end requires start/)).toBeInTheDocument();
  });

  it('marks required fields and starts a required list with one row', () => {
    renderForm('weather');
    const places = screen.getByRole('group', { name: /Places/ });
    expect(within(places).getByRole('group', { name: 'Place 1' })).toBeInTheDocument();
    expect(within(places).getByLabelText('Latitude')).toBeInTheDocument();
    expect(screen.getByText(/give a name, or both latitude and longitude/)).toBeInTheDocument();
  });

  it('validates as you type and ties the message to the input', async () => {
    const user = userEvent.setup();
    const state = renderForm('weather');
    const days = screen.getByLabelText('Forecast days');
    await user.clear(days);
    await user.type(days, '20');
    expect(days).toHaveAttribute('aria-invalid', 'true');
    const message = screen.getByText('must be at most 16');
    expect(days.getAttribute('aria-describedby')).toContain(message.id);
    await user.clear(days);
    await user.type(days, '3');
    expect(screen.queryByText('must be at most 16')).not.toBeInTheDocument();
    expect(state().params).toBeNull(); // places is still empty
  });

  it('hides untouched errors until the person tries to submit', () => {
    const state = renderForm('github');
    expect(screen.queryByText('is required')).not.toBeInTheDocument();
    act(() => state().revealAll());
    expect(screen.getByText('is required')).toBeInTheDocument();
  });

  it('adds and removes list rows within the limits', async () => {
    const user = userEvent.setup();
    const state = renderForm('quote');
    const add = screen.getByRole('button', { name: 'Add tag' });
    for (let i = 0; i < 5; i++) await user.click(add);
    expect(add).toBeDisabled();
    const inputs = screen.getAllByLabelText(/^Tag \d$/);
    await user.type(inputs[0]!, 'wisdom');
    await user.type(inputs[1]!, 'Not A Slug');
    expect(screen.getByText('must be a tag slug: lower-case letters, digits and hyphens')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Remove tag 2' }));
    expect(screen.getAllByLabelText(/^Tag \d$/)).toHaveLength(4);
    expect(state().params).toMatchObject({ tags: ['wisdom'] });
  });

  it('builds the parameters the server expects', async () => {
    const user = userEvent.setup();
    const state = renderForm('weather');
    await user.type(screen.getByLabelText('Name'), 'Lisbon');
    fireEvent.change(screen.getByLabelText('Past days'), { target: { value: '2' } });
    expect(state().params).toEqual({ places: [{ name: 'Lisbon' }], forecast_days: 7, past_days: 2 });
  });

  it('shows server errors next to the field they name, until it is edited', async () => {
    const user = userEvent.setup();
    const state = renderForm('weather');
    await user.type(screen.getByLabelText('Name'), 'Lisbon');
    act(() =>
      state().setServerErrors(
        [
          { path: 'places[0]', message: 'give a name or coordinates, not both' },
          { path: 'forecast_days', message: 'ask for at least one day' },
        ],
        ['parameters are 5000 bytes; the limit is 4096'],
      ),
    );
    const row = screen.getByRole('group', { name: 'Place 1' });
    expect(within(row).getByText('give a name or coordinates, not both')).toBeInTheDocument();
    const days = screen.getByLabelText('Forecast days');
    expect(days).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText('ask for at least one day').id).toBe(days.getAttribute('aria-describedby')?.split(' ')[0]);
    expect(screen.getByText(/5000 bytes/)).toBeInTheDocument();

    await user.type(screen.getByLabelText('Latitude'), '1');
    expect(screen.queryByText('give a name or coordinates, not both')).not.toBeInTheDocument();
    expect(screen.getByText('ask for at least one day')).toBeInTheDocument();
  });
});
