import { createContext, useContext } from 'react';
import type { ParamFormState } from '../../params/useParamForm';

/** The form state, shared by the generated fields instead of threading it through every level. */
export const ParamFormContext = createContext<(ParamFormState & { idPrefix: string }) | null>(null);

export function useParamFormContext() {
  const context = useContext(ParamFormContext);
  if (!context) throw new Error('generated fields must be inside <ParamForm>');
  return context;
}
