import { ApolloProvider } from '@apollo/client';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { ApiProvider } from './api/ApiContext';
import { createApiClients } from './api/apollo';
import { AuthProvider } from './api/auth-context';
import { App } from './App';
import './styles.css';

// Created here, not at import, so tests build their own clients.
const clients = createApiClients();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ApiProvider clients={clients}>
      <ApolloProvider client={clients.apollo}>
        <BrowserRouter>
          <AuthProvider>
            <App />
          </AuthProvider>
        </BrowserRouter>
      </ApolloProvider>
    </ApiProvider>
  </StrictMode>,
);
